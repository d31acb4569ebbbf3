"""Slow: real trainings through the CLI that must reach a real accuracy, and early stopping that stops."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _metrics(root: Path, run: str) -> dict[str, float]:
    return json.loads((root / run / "metrics.json").read_text())


def test_default_run_lenet_reaches_98_percent(dltrain, tmp_path: Path):
    result = dltrain("train", "callbacks=minimal", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _metrics(tmp_path, "run")["test/acc"] >= 0.98


def test_mlp_with_every_option_learns_digits(dltrain, tmp_path: Path):
    result = dltrain("train", "model=mlp", "model.hidden_sizes=[256,128]", "model.activation=tanh",
                     "model.dropout=0.2", "model.batch_norm=true", "optimizer=sgd", "optimizer.lr=0.05",
                     "optimizer.momentum=0.9", "scheduler=cosine", "regularization.l1=1e-5",
                     "optimizer.weight_decay=1e-4", "callbacks=minimal", "trainer.max_epochs=15",
                     "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _metrics(tmp_path, "run")["test/acc"] >= 0.95


def test_early_stopping_stops_before_max_epochs(dltrain, tmp_path: Path):
    result = dltrain("train", "model=mlp", "data=synthetic", "scheduler=none", "optimizer.lr=0.01",
                     "callbacks.early_stopping.patience=2", "callbacks.early_stopping.min_delta=0.01",
                     "trainer.max_epochs=100", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert 3 <= len(epochs) < 100
    assert _metrics(tmp_path, "run")["test/acc"] >= 0.8


@pytest.mark.slow
def test_trainer_ddp_cpu_learns_as_one_process_does(dltrain, tmp_path: Path):
    """trainer=ddp_cpu: two processes over gloo, each on half of every epoch. Lightning re-runs the command line for
    the second process: both share one run directory, and the accuracy lands where one process's does."""
    import subprocess
    import sys

    common = ["train", "model=mlp", "trainer.max_epochs=10"]
    script = Path(sys.executable).parent / "dltrain"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dltrain"]
    result = subprocess.run([*command, *common, "trainer=ddp_cpu", "hydra.run.dir=ddp"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes (1 node)" in result.stdout
    assert (tmp_path / "ddp" / "checkpoints" / "best.ckpt").is_file()
    assert set(_metrics(tmp_path, "ddp")) == {"test/acc", "test/f1", "test/loss"}
    assert [path.name for path in tmp_path.iterdir()] == ["ddp"]
    single = dltrain(*common, "trainer=cpu", "hydra.run.dir=single")
    assert single.returncode == 0, single.stderr[-3000:]
    together, alone = _metrics(tmp_path, "ddp")["test/acc"], _metrics(tmp_path, "single")["test/acc"]
    assert together >= 0.9 and abs(together - alone) <= 0.05, (together, alone)


def test_resnet_on_defaults_reaches_98_percent(dltrain, tmp_path: Path):
    """`dltrain train model=resnet`, the command users type first: ResNet-20 on digits at 16x16, at its defaults but
    for the number of epochs (12 of 30: test accuracy 0.992 measured, 16 s)."""
    result = dltrain("train", "model=resnet", "callbacks=minimal", "trainer.max_epochs=12", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _metrics(tmp_path, "run")["test/acc"] >= 0.98
