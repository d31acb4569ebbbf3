"""Resume beyond the default run: image folders streamed from disk, transfer runs, and runs extended to more
epochs, whose schedule then spans the new length."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import run_in_process
from tests.fabricate import write_image_tree
from tests.resuming import metrics_rows, same_run, stopped_and_resumed


def test_a_streamed_image_folder_resumes_mid_epoch_to_the_same_weights(tmp_path: Path):
    """Images read from disk by loader workers (the set is larger than data.max_memory_gb) come in the same order
    after a resume as in the uninterrupted run."""
    write_image_tree(tmp_path / "photos", per_class=16, size=12)
    arguments = ["train", "data=image_folder", f"data.root={tmp_path / 'photos'}", "data.max_memory_gb=0",
                 "data.num_workers=1", "data.batch_size=8", "model=mlp", "trainer.max_epochs=3", "model.dropout=0.2"]
    run, reference = stopped_and_resumed(arguments, tmp_path)
    assert "read from disk every epoch" in (run / "train.log").read_text()
    assert same_run(run, reference, resumed_mid_epoch=1)


def test_a_transfer_run_resumes_with_its_frozen_layers_even_without_its_source(tmp_path: Path):
    """The backbone frozen until epoch 2, at a tenth of the rate after: the resume rebuilds both from the run's own
    checkpoint, so the source run may be gone. The signal comes after the last of epoch 1's two batches: the run
    stops once that epoch has ended (validated, checkpointed), so no epoch goes missing."""
    source = run_in_process("train", "data.classes=[0,1,2,3,4]", "trainer.max_epochs=2", "hydra.run.dir=source",
                            cwd=tmp_path)
    assert source.returncode == 0, source.stderr[-2000:]
    arguments = ["transfer", "source=source", "data.classes=[5,6,7,8,9]", "data.max_per_class=20",
                 "unfreeze_at_epoch=2", "trainer.max_epochs=4"]
    run, reference = stopped_and_resumed(arguments, tmp_path, before_resume=lambda: shutil.rmtree(tmp_path / "source"))
    assert same_run(run, reference) and [int(row["epoch"]) for row in metrics_rows(run)] == [0, 1, 2, 3]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["transferred_from"]["frozen"] == ["features.0", "features.3", "classifier.0", "classifier.3"]


def _planned_rates(scheduler: str, lr: float, epochs: int, steps_per_epoch: int) -> list[float]:
    """The learning rate of each epoch of a run planned for `epochs` from its start."""
    if scheduler == "cosine":
        return [lr * (1 + math.cos(math.pi * epoch / epochs)) / 2 for epoch in range(epochs)]
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps_per_epoch):
            optimizer.step()
            schedule.step()
    return rates


def test_an_extended_cosine_schedule_spans_the_new_length_in_the_saved_config():
    """The one-cycle schedule's length is the run's (total_steps: null); cosine's T_max was resolved from
    trainer.max_epochs, and follows it when a resume extends the run (a T_max set by hand stays)."""
    from dltrain.lifecycle import resumed_config

    saved = {"trainer": {"max_epochs": 2}, "scheduler": {"_target_": "CosineAnnealingLR", "T_max": 2}}
    extended = resumed_config(saved, {"trainer": {"max_epochs": 4}}, ["trainer.max_epochs=4"])
    assert extended["scheduler"]["T_max"] == 4 and saved["trainer"]["max_epochs"] == 2
    by_hand = {**saved, "scheduler": {"_target_": "CosineAnnealingLR", "T_max": 7}}
    assert resumed_config(by_hand, {"trainer": {"max_epochs": 4}}, ["trainer.max_epochs=4"])["scheduler"]["T_max"] == 7


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_an_extended_run_follows_the_schedule_of_its_new_length(tmp_path: Path, scheduler: str):
    result = run_in_process("train", "model=mlp", f"scheduler={scheduler}", "trainer.max_epochs=2", "hydra.run.dir=run",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_in_process("train", "resume=run", "trainer.max_epochs=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the learning-rate schedule is stretched over the run's new length" in result.stdout
    rows = metrics_rows(tmp_path / "run")
    rates = [float(row["lr"]) for row in rows]
    lr = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["optimizer"]["lr"]
    planned = _planned_rates(scheduler, lr, 4, int(rows[0]["step"]))
    assert rates[2:] == pytest.approx(planned[2:], rel=1e-6)
    assert rates[1] != pytest.approx(planned[1], rel=1e-3)  # the first two epochs followed the two-epoch plan
    # Lightning's step-by-step log keeps the first run's epochs too, each once.
    with open(tmp_path / "run" / "logs" / "metrics.csv", newline="") as handle:
        logged = [row["epoch"] for row in csv.DictReader(handle) if row["train/loss"]]
    assert logged == ["0", "1", "2", "3"]
