"""Tables printed at the end of a command: what a user reads first after a run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def print_table(title: str, rows: Iterable[tuple[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(name, _show(value))
    Console().print(table)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def stage_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The metrics of one stage as a flat {name: number} dict, the shape metrics.json promises."""
    return {name: float(value) for name, value in sorted(metrics.items()) if name.startswith(f"{prefix}/")}
