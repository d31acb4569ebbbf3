"""Every shipped optimizer and scheduler config builds and trains; L1/L2 penalties are what they claim."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from dltrain.configs import config_dir, group_options
from dltrain.data.synthetic import SyntheticDataModule
from dltrain.models.mlp import MLP
from dltrain.optim import build_scheduler, regularization_penalties
from dltrain.tasks.classification import ClassificationTask


def shipped(group: str, option: str, **resolved) -> dict:
    node = OmegaConf.load(config_dir() / group / f"{option}.yaml")
    root = OmegaConf.create({"trainer": {"max_epochs": 10}, group: node, **resolved})
    return OmegaConf.to_container(root, resolve=True)[group]


def fit(optimizer: dict, scheduler: dict | None = None, epochs: int = 10, **task_options) -> dict[str, float]:
    pl.seed_everything(0, verbose=False)
    data = SyntheticDataModule(num_samples=400, num_classes=3, shape=[8], separation=6.0, batch_size=32)
    model = MLP(**data.sizes, hidden_sizes=[16])
    task = ClassificationTask(model, num_classes=3, optimizer=optimizer, scheduler=scheduler, **task_options)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(task, datamodule=data)
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


@pytest.mark.parametrize("option", group_options("optimizer"))
def test_every_optimizer_learns(option: str):
    metrics = fit(shipped("optimizer", option))
    assert metrics["val/acc"] > 0.8, metrics


@pytest.mark.parametrize("option", group_options("scheduler"))
def test_every_scheduler_runs(option: str):
    metrics = fit(shipped("optimizer", "sgd"), shipped("scheduler", option))
    assert metrics["val/acc"] > 0.8, metrics


def test_onecycle_fills_total_steps_and_max_lr():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.3)
    built = build_scheduler(shipped("scheduler", "onecycle"), optimizer, total_steps=50)
    assert built["interval"] == "step" and built["scheduler"].total_steps == 50
    assert built["scheduler"].optimizer.param_groups[0]["max_lr"] == 0.3


def test_none_scheduler_is_a_constant_rate():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.3)
    assert build_scheduler(shipped("scheduler", "none"), optimizer, total_steps=10) is None


def test_penalties_cover_weights_not_biases():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        layer.bias.fill_(100.0)
    penalties = regularization_penalties(layer, l1=0.1, l2=0.01)
    assert penalties["l1"].item() == pytest.approx(0.3)
    assert penalties["l2"].item() == pytest.approx(0.05)
    assert regularization_penalties(layer, l1=0.0, l2=0.0) == {}


def test_l1_penalty_is_logged_and_shrinks_weights():
    sgd = shipped("optimizer", "sgd")
    plain = fit(sgd)
    sparse = fit(sgd, regularization={"l1": 0.01, "l2": 0.0})
    assert "train/l1" in sparse and "train/l1" not in plain
    assert sparse["train/l1"] > 0
