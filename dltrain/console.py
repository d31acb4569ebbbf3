"""What a command shows while it runs, and where everything else goes.

The console carries what a user acts on: dltrain's own messages, a run header, one line per epoch and the final
table. Libraries' INFO lines and Python warnings (Lightning's device report, tips, deprecations) go to the run's
log file only, where there is one; `verbose=true` shows them too. No torch or Lightning here: this runs before
any command starts.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FILE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
# Loggers Lightning may have given handlers of their own when it was imported before logging was configured.
LIBRARY_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")


class _ConsoleFormat(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


class _Console(logging.StreamHandler):
    """The terminal's lines. When the reader of a pipe leaves (`dltrain train | head`), the run goes on without a
    console (the run's log file keeps every line) instead of printing a logging traceback for each line after."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            silence_a_closed_stdout()
            return
        super().handleError(record)


def silence_a_closed_stdout() -> None:
    """Point standard output at the null device: what is still buffered for a pipe whose reader left, and whatever
    comes after, goes nowhere instead of failing."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _OwnMessagesOnly(logging.Filter):
    """dltrain's messages at INFO and above; other libraries' only when they report an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] == "dltrain" or record.levelno >= logging.ERROR


def configure_logging(log_file: Path | None, verbose: bool) -> None:
    """Replace whatever handlers the root logger has (a previous job of a sweep) with the console's and, when
    given, `log_file`'s, which keeps every INFO line and warning with a timestamp."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO)
    console = _Console(sys.stdout)
    console.setFormatter(_ConsoleFormat())
    if not verbose:
        console.addFilter(_OwnMessagesOnly())
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(FILE_FORMAT))
        root.addHandler(to_file)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            library.removeHandler(handler)
        library.propagate = True
    logging.captureWarnings(not verbose)


def close_log_file() -> None:
    """Stop writing the run's log file (a run that never started removes its folder)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


def count(value: int) -> str:
    return f"{value:,}"


def describe_inputs(spec: dict[str, Any], kind: str | None) -> str:
    """The inputs a model sees, in words: '3x32x32 images, 10 classes', 'rows of 8 features, 1 numeric target'."""
    size = list(spec.get("input_size") or [])
    channels = spec.get("in_channels", 1)
    if kind == "images" and len(size) == 2:
        inputs = f"{channels}x{size[0]}x{size[1]} images"
    elif kind == "rows" and len(size) == 1:
        inputs = f"rows of {size[0]} features"
    elif kind == "texts":
        inputs = f"texts, vocabulary of {count(spec.get('vocab_size', 0))}"
    elif kind == "signals" and len(size) == 1:
        inputs = f"signals of {channels} channel{'s' if channels != 1 else ''} x {size[0]} steps"
    elif kind == "clips" and len(size) == 2:
        inputs = f"clips as {size[0]} frames x {size[1]} mel bands"
    elif kind == "observations" and len(size) == 1:
        return f"observations of {size[0]} numbers, {spec.get('num_classes')} actions"
    elif kind == "interactions":
        return f"interactions of {count(spec.get('num_users', 0))} users with {count(spec.get('num_items', 0))} items"
    else:
        inputs = f"inputs of size {[channels, *size]}"
    classes, targets = spec.get("num_classes"), spec.get("num_targets")
    if targets:
        return f"{inputs}, {targets} numeric target{'s' if targets != 1 else ''}"
    return f"{inputs}, {classes} classes" if classes else inputs


def header_lines(rows: Iterable[tuple[str, str]]) -> list[str]:
    rows = list(rows)
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {value}" for name, value in rows]


def epoch_line(epoch: int, max_epochs: int, metrics: dict[str, float], seconds: float, improved: bool) -> str:
    """'epoch  3/30  train/loss 0.4123  val/loss 0.3801  val/acc 0.9120  1.2 s  best'."""
    width = len(str(max_epochs)) if max_epochs > 0 else 3
    of = f"/{max_epochs}" if max_epochs > 0 else ""
    figures = "  ".join(f"{name} {_figure(value)}" for name, value in metrics.items())
    return f"epoch {epoch:>{width}}{of}  {figures}  {seconds:.1f} s{'  best' if improved else ''}"


def _figure(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def epoch_figures(metrics: dict[str, float]) -> dict[str, float]:
    """The figures of an epoch worth a glance: the training loss, then the validation loss and metrics."""
    shown = {name: value for name, value in metrics.items() if name == "train/loss" or name.startswith("val/")}
    return dict(sorted(shown.items(), key=lambda item: (not item[0].startswith("train/"), item[0] != "val/loss")))
