"""User errors: problems the user can fix, reported as one line with exit code 2 (3 for a diverged run, 128 + the
signal for an interrupted one) and no traceback."""

from __future__ import annotations

import os
import sys

USER_ERROR_EXIT_CODE = 2
DIVERGED_EXIT_CODE = 3


class UserError(Exception):
    """A bad input or config. `what` names the problem, `fix` tells the user how to repair it."""

    exit_code = USER_ERROR_EXIT_CODE

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.what} — {self.fix}" if self.fix else self.what


class Interrupted(UserError):
    """A signal stopped the run after saving it: exit code 128 + the signal's number, as shells report it."""

    def __init__(self, what: str, fix: str, exit_code: int) -> None:
        super().__init__(what, fix)
        self.exit_code = exit_code


class SearchError(UserError):
    """A hyperparameter search that cannot go on (its objective names no figure of the runs): it stops the whole search,
    where a trial's own error (a diverged run) fails that trial only."""


class Diverged(UserError):
    """Training produced a non-finite loss or gradient: the run stops with exit code 3, its best checkpoint kept."""

    exit_code = DIVERGED_EXIT_CODE


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (or its type, when it has none), for a one-line error."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def debugging() -> bool:
    """`DLTRAIN_DEBUG=1` turns user errors back into tracebacks, for bug reports."""
    return os.environ.get("DLTRAIN_DEBUG", "") not in ("", "0", "false")


def report(error: UserError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return error.exit_code


def suggestion(word: str, choices: list[str]) -> str:
    """The hint "did you mean 'X'?" for the closest choice, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
