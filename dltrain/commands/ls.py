"""dltrain ls [GROUP]: every config group and option with its description; no torch, no Hydra."""

from __future__ import annotations

import shutil
import textwrap

from dltrain.configs import defaults, description, group_options, groups
from dltrain.errors import UserError, suggestion


def list_configs(args: list[str]) -> int:
    available = groups()
    wanted = args or available
    for group in wanted:
        if group not in available:
            hint = suggestion(group, available)
            raise UserError(f"unknown config group '{group}'",
                            f"{hint + ' ' if hint else ''}groups are: {', '.join(available)}")
    chosen = defaults("train")
    columns = max(shutil.get_terminal_size((100, 24)).columns, 60)
    for position, group in enumerate(wanted):
        if position:
            print()
        print(f"{group}  (choose with {group}=NAME; default: {chosen.get(group) or 'none'})")
        options = group_options(group)
        width = max(map(len, options), default=0)
        for option in options:
            marker = "*" if option == chosen.get(group) else " "
            first_line = f" {marker} {option:<{width}}  "
            print(textwrap.fill(description(group, option), width=columns, initial_indent=first_line,
                                subsequent_indent=" " * len(first_line), break_on_hyphens=False))
    return 0
