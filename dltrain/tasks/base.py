"""What every task shares: the model it trains, its optimizer and schedule, and the L1/L2 penalties."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from dltrain.optim import (
    lightning_optimizers,
    parameter_groups,
    regularization_penalties,
    stretch_schedules,
    without_schedule_lengths,
)

log = logging.getLogger(__name__)


class Task(pl.LightningModule):
    """A LightningModule around `model`; subclasses own the loss, the metrics and the logging.

    `learning_rate_scales` maps module names of the model to factors on the optimizer's learning rate (empty:
    one rate for all); `dltrain transfer` trains a loaded backbone more gently than a new head with it.
    """

    # What best.ckpt and early stopping follow (the callbacks' config names it); None: nothing (see GANTask).
    monitor: str | None = "val/loss"
    # True: the task rebuilds or generates the images themselves, in their own range [0, 1], so train turns a
    # dataset's normalization off (a sigmoid or tanh output cannot reach normalized values).
    models_pixels: bool = False
    # The kinds of targets the task learns from (see assemble.check_targets): classes, which the tasks that learn
    # without labels take too, and ignore.
    target_kinds: tuple[str, ...] = ("classes",)

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.optimizer_config, self.scheduler_config = optimizer, scheduler
        self.regularization = {"l1": 0.0, "l2": 0.0, **(regularization or {})}
        self.learning_rate_scales: dict[str, float] = {}
        self.saved_schedule_lengths: list[dict[str, Any]] = []

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs)

    def penalties(self) -> dict[str, torch.Tensor]:
        return regularization_penalties(self.model, **self.regularization)

    def configure_optimizers(self) -> Any:
        groups = parameter_groups(self.model, self.learning_rate_scales)
        return lightning_optimizers(self.optimizer_config, self.scheduler_config, groups,
                                    self.trainer.estimated_stepping_batches)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming: the schedules are built for this run's length (see optim.SCHEDULE_LENGTH_STATE)."""
        self.saved_schedule_lengths = without_schedule_lengths(checkpoint.get("lr_schedulers", []))

    def on_train_start(self) -> None:
        schedulers = [config.scheduler for config in self.trainer.lr_scheduler_configs]
        stretched = self.saved_schedule_lengths and stretch_schedules(schedulers, self.saved_schedule_lengths)
        if stretched and self.trainer.is_global_zero:
            log.info("the learning-rate schedule is stretched over the run's new length: lr %.3g from here",
                     schedulers[0].optimizer.param_groups[0]["lr"])

    def step_schedulers(self, interval: str) -> None:
        """Under manual optimization (GANs, DQN) Lightning steps no schedule: the task steps those of `interval`
        (`step` after each update, `epoch` at each epoch's end)."""
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == interval:
                config.scheduler.step()
