"""What the resume tests compare: a run directory's weights, metrics.csv, metrics.json and status, and a run stopped
by a signal and resumed beside the same run uninterrupted."""

from __future__ import annotations

import csv
import json
import signal
from collections.abc import Callable
from pathlib import Path

import torch

from tests.conftest import run_dltrain, run_in_process

REPO = Path(__file__).resolve().parents[1]


def metrics_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def last_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def same_run(run: Path, reference: Path, resumed_mid_epoch: int | None = None) -> bool:
    """Same weights, same test metrics, same metrics.csv. An epoch resumed in its middle averages its figures
    over what it ran after the resume (Lightning keeps no running means in checkpoints): only its epoch, step and
    learning rate are compared."""
    ours, theirs = last_weights(run), last_weights(reference)
    rows, expected = metrics_rows(run), metrics_rows(reference)
    if resumed_mid_epoch is not None:
        for table in (rows, expected):
            table[resumed_mid_epoch] = {key: table[resumed_mid_epoch][key] for key in ("epoch", "step", "lr")}
    return (rows == expected and all(torch.equal(ours[name], theirs[name]) for name in theirs)
            and json.loads((run / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text()))


def status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def stopped_and_resumed(arguments: list[str], tmp_path: Path, epoch: int = 1, batch: int = 1,
                        before_resume: Callable[[], None] = lambda: None) -> tuple[Path, Path]:
    """The run of `arguments` (a command and its overrides) stopped by SIGTERM after batch `batch` of epoch `epoch`
    and resumed in a new process (`before_resume` runs in between), and the same run uninterrupted (in this process:
    it carries the same, already spent, callback, so both configs are the same)."""
    env = {"PYTHONPATH": str(REPO)}
    stop = ["+callbacks.stop._target_=tests.lifecycle_parts.SignalOnce", f"+callbacks.stop.marker={tmp_path}/sent",
            f"+callbacks.stop.epoch={epoch}", f"+callbacks.stop.batch={batch}"]
    command, *rest = arguments
    result = run_dltrain(command, *rest, *stop, "hydra.run.dir=run", cwd=tmp_path, env=env)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr[-2000:]
    reference = run_in_process(command, *rest, *stop, "hydra.run.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    before_resume()
    resumed = run_dltrain("train", "resume=run", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return tmp_path / "run", tmp_path / "reference"
