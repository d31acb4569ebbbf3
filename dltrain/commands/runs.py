"""dltrain runs: a table of the run directories under a folder; `dltrain runs compare`: a leaderboard of a sweep (or
of runs named one by one), sorted by any metric, with a CSV and a plot of it. No torch, no Hydra: instant.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from dltrain.errors import UserError, suggestion
from dltrain.run_records import RunRecord, differing_overrides, find_runs, headline, higher_is_better

USAGE = """usage: dltrain runs [DIR ...]
       dltrain runs compare DIR [DIR ...] [--sort METRIC] [--output FOLDER]

  dltrain runs                      every run under runs/: when, status, model, data, epochs, its main test figure
  dltrain runs compare SWEEP_DIR    the sweep's jobs ranked by their main test figure (or --sort test/f1, val/loss
                                    ...), written as leaderboard.csv and leaderboard.png into the sweep folder (or
                                    --output FOLDER) beside the table
"""


def runs(args: list[str]) -> int:
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE, end="")
        return 0
    if args[:1] == ["compare"]:
        return compare(args[1:])
    unknown = [arg for arg in args if arg.startswith("-")]
    if unknown:
        raise UserError(f"dltrain runs takes folders, not {unknown[0]}", "see dltrain runs --help")
    if not args and not Path("runs").is_dir():
        _no_runs("runs/")
    records = find_runs([Path(arg).expanduser() for arg in args] or [Path("runs")])
    if not records:
        _no_runs(" ".join(args) or "runs")
    figure = headline(records)
    rows = [[record.started, str(record.folder), record.state, record.choice("task"), record.model,
             record.choice("data") or record.choice("env"), record.epochs, _value(record, figure),
             " ".join(_command(record))] for record in records]
    columns = ["started", "run", "status", "task", "model", "data", "epochs", figure or "test", "overrides"]
    _print("dltrain runs", columns, rows)
    return 0


def compare(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dltrain runs compare", add_help=False, exit_on_error=False)
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--sort")
    parser.add_argument("--output")
    try:
        options, unknown = parser.parse_known_args(args)
    except argparse.ArgumentError as error:
        raise UserError(f"dltrain runs compare: {error}", "see dltrain runs --help") from None
    if unknown or not options.folders:
        raise UserError(f"dltrain runs compare: {'unknown option ' + unknown[0] if unknown else 'no folder given'}",
                        "pass a sweep folder or run directories, e.g. dltrain runs compare runs/multirun/DAY/TIME "
                        "--sort test/acc")
    folders = [Path(folder).expanduser() for folder in options.folders]
    records = find_runs(folders)
    if not records:
        _no_runs(" ".join(options.folders))
    metric = options.sort or headline(records)
    measured = sorted({name for record in records for name in record.metrics})
    curves = records[0].epoch_figures()
    if metric is None or (metric not in measured and metric not in curves):
        hint = suggestion(str(metric), measured + curves)
        raise UserError(f"--sort {metric}: no run measured it",
                        f"{hint + ' ' if hint else ''}sort by one of: {', '.join(measured + curves)}")
    ranked = _ranked(records, metric)
    shown = differing_overrides([record for record, _ in ranked])
    others = [name for name in measured if name != metric][:4]
    rows = [[str(rank), str(record.folder), " ".join(differs) or "-", record.state, record.epochs,
             _number(value), *(_value(record, name) for name in others)]
            for rank, ((record, value), differs) in enumerate(zip(ranked, shown, strict=True), start=1)]
    output = Path(options.output).expanduser() if options.output else (
        folders[0] if len(folders) == 1 and folders[0] not in [record.folder for record in records] else Path("."))
    table = _write_csv(output / "leaderboard.csv", ranked, shown, measured, metric)
    picture = _plot(output / "leaderboard.png", ranked, shown, metric)
    _print(f"dltrain runs compare: {len(ranked)} runs by {metric} ({'higher' if higher_is_better(metric) else 'lower'}"
           " is better)", ["rank", "run", "overrides", "status", "epochs", metric, *others], rows)
    print(f"leaderboard: {table} and {picture}")
    return 0


def _ranked(records: list[RunRecord], metric: str) -> list[tuple[RunRecord, float | None]]:
    """Runs with their figure for `metric` (a test figure, or the best epoch's of a per-epoch one), best first; runs
    without it last."""
    higher = higher_is_better(metric)
    pairs = []
    for record in records:
        value = record.metrics.get(metric)
        if value is None:
            values = [figure for _, figure in record.curve(metric)]
            value = (max(values) if higher else min(values)) if values else None
        pairs.append((record, value))
    return sorted(pairs, key=lambda pair: (pair[1] is None, -(pair[1] or 0) if higher else (pair[1] or 0)))


def _write_csv(path: Path, ranked: list, shown: list[list[str]], measured: list[str], metric: str) -> Path:
    from dltrain.files import write_text_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [metric, *(name for name in measured if name != metric)]
    writer.writerow(["rank", "run", "overrides", "status", "epochs", *columns])
    for rank, ((record, value), differs) in enumerate(zip(ranked, shown, strict=True), start=1):
        figures = [value, *(record.metrics.get(name) for name in columns[1:])]
        writer.writerow([rank, str(record.folder), " ".join(differs), record.state, record.epochs,
                         *("" if figure is None else f"{figure:.6g}" for figure in figures)])
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, buffer.getvalue())


def _plot(path: Path, ranked: list, shown: list[list[str]], metric: str) -> Path:
    """The metric of each run (bars, best at the top) beside each run's validation curve of it (or of val/loss)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from dltrain.files import write_atomic

    labels = [" ".join(differs) or record.folder.name for (record, _), differs in zip(ranked, shown, strict=True)]
    figure, (bars, lines) = pyplot.subplots(1, 2, figsize=(13, max(3.5, 0.4 * len(ranked) + 1.5)))
    values = [value if value is not None else float("nan") for _, value in ranked]
    bars.barh(range(len(ranked)), values, color="tab:blue")
    bars.set_yticks(range(len(ranked)), labels, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel(metric)
    bars.set_title(f"{metric} by run (best at the top)")
    curve = "val/" + metric.split("/", 1)[-1]
    curves = [record.curve(curve) for record, _ in ranked]
    if not any(curves):
        curve = "val/loss"
        curves = [record.curve(curve) for record, _ in ranked]
    for points, label in zip(curves, labels, strict=True):
        if points:
            lines.plot([epoch for epoch, _ in points], [value for _, value in points], marker=".", label=label)
    lines.set_xlabel("epoch")
    lines.set_ylabel(curve)
    lines.set_title(f"{curve} per epoch")
    if len(ranked) <= 12:
        lines.legend(fontsize=7)
    figure.tight_layout()
    write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    pyplot.close(figure)
    return path


def _command(record: RunRecord) -> list[str]:
    return [override for override in record.overrides if not override.startswith(("hydra.", "resume="))]


def _value(record: RunRecord, name: str | None) -> str:
    return _number(record.metrics.get(name)) if name else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def _no_runs(where: str):
    raise UserError(f"no runs under {where}", "train one with dltrain train, or pass the folder that holds them")


def _print(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    # A table piped into a file or another program keeps its whole cells: rich would cut them to 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 240)
    console.print(title, highlight=False)
    console.print(table)
