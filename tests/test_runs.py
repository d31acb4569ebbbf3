"""dltrain runs: the table of run directories, and a sweep's leaderboard (table, CSV, PNG), read from the runs' own
files without torch."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from dltrain.run_records import find_runs, higher_is_better
from tests.conftest import assert_user_error, run_in_process


@pytest.mark.slow
def test_the_leaderboard_of_a_four_run_sweep(tmp_path: Path):
    result = run_in_process("train", "-m", "model=mlp", "optimizer.lr=0.01,0.0003", "model.hidden_sizes=[32],[128]",
                            "trainer.max_epochs=2", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    listed = run_in_process("runs", cwd=tmp_path / "sweep")
    assert listed.returncode == 2  # no runs/ folder there
    listed = run_in_process("runs", "sweep", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count("finished") == 4 and "test/acc" in listed.stdout

    compared = run_in_process("runs", "compare", "sweep", "--sort", "test/acc", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "4 runs by test/acc (higher is better)" in compared.stdout
    with (tmp_path / "sweep" / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    accuracies = [float(row["test/acc"]) for row in rows]
    assert len(rows) == 4 and accuracies == sorted(accuracies, reverse=True)
    assert {row["overrides"] for row in rows} == {f"optimizer.lr={lr} model.hidden_sizes=[{width}]"
                                                  for lr in ("0.01", "0.0003") for width in (32, 128)}
    assert rows[0]["overrides"].startswith("optimizer.lr=0.01")  # 2 epochs at 0.0003 learn little
    with Image.open(tmp_path / "sweep" / "leaderboard.png") as picture:
        assert picture.format == "PNG" and picture.size[0] > 600

    by_loss = run_in_process("runs", "compare", "sweep", "--sort", "val/loss", "--output", "board", cwd=tmp_path)
    assert by_loss.returncode == 0 and "(lower is better)" in by_loss.stdout
    with (tmp_path / "board" / "leaderboard.csv").open() as handle:
        losses = [float(row["val/loss"]) for row in csv.DictReader(handle)]
    assert losses == sorted(losses)


def _fake_run(folder: Path, status: dict, metrics: dict | None = None, curve: list[float] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps(status))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if curve:
        (folder / "metrics.csv").write_text("epoch,step,val/loss\n" + "".join(
            f"{epoch},{epoch * 10},{value}\n" for epoch, value in enumerate(curve)))
    return folder


def test_runs_are_found_in_a_tree_and_a_killed_one_counts_as_interrupted(tmp_path: Path):
    import socket

    _fake_run(tmp_path / "runs" / "a", {"status": "finished", "started": "2026-12-01T10:00:00"}, {"test/loss": 0.5})
    _fake_run(tmp_path / "runs" / "deep" / "b", {"status": "running", "started": "2026-12-01T09:00:00",
                                                 "host": socket.gethostname(), "pid": 2**22 + 7})
    _fake_run(tmp_path / "runs" / "c", {"status": "running", "started": "2026-12-01T11:00:00",
                                        "host": socket.gethostname(), "pid": os.getpid()})
    records = find_runs([tmp_path / "runs"])
    assert [(record.folder.name, record.state) for record in records] == [
        ("b", "interrupted"), ("a", "finished"), ("c", "running")]


def test_sorting_knows_which_way_is_better_and_puts_runs_without_the_figure_last(tmp_path: Path):
    assert higher_is_better("test/acc") and higher_is_better("val/r2") and higher_is_better("test/miou_cat")
    assert not higher_is_better("test/loss") and not higher_is_better("test/rmse") and not higher_is_better("val/cer")
    for name, loss, curve in (("x", 0.7, [0.9, 0.4, 0.6]), ("y", 0.3, [0.8, 0.5]), ("z", None, None)):
        _fake_run(tmp_path / "sweep" / name, {"status": "finished", "started": f"2026-12-01T10:00:0{len(name)}"},
                  {"test/loss": loss} if loss is not None else {}, curve)
    result = run_in_process("runs", "compare", "sweep", "--sort", "val/loss", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "sweep" / "leaderboard.csv").open() as handle:
        rows = [(Path(row["run"]).name, row["val/loss"]) for row in csv.DictReader(handle)]
    assert rows == [("x", "0.4"), ("y", "0.5"), ("z", "")]  # each run's best epoch


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["runs", "nowhere"], ("no such run directory or folder of runs: 'nowhere'", "sweep folder")),
    (["runs"], ("no runs under runs/", "dltrain train")),
    (["runs", "compare"], ("no folder given", "dltrain runs compare runs/multirun")),
    (["runs", "compare", "sweep", "--sort", "test/ac"], ("--sort test/ac: no run measured it",
                                                         "did you mean 'test/acc'?")),
    (["runs", "compare", "sweep", "--best"], ("unknown option --best", "--sort test/acc")),
])
def test_runs_errors(tmp_path: Path, arguments: list[str], fragments: tuple[str, ...]):
    _fake_run(tmp_path / "sweep" / "0", {"status": "finished"}, {"test/acc": 0.9})
    result = run_in_process(*arguments, cwd=tmp_path)
    assert_user_error(result, *fragments)
    assert sorted(path.name for path in (tmp_path / "sweep").iterdir()) == ["0"]
