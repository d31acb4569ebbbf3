"""What every task shares: the model it trains, its optimizer and schedule, and the L1/L2 penalties."""

from __future__ import annotations

import logging
from pathlib import Path
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
from dltrain.tasks.batch_means import BatchMeans

log = logging.getLogger(__name__)


def computed(metric: Any) -> Any:
    """A torchmetrics metric's (or collection's) value over the loop, the metric reset for the next loop."""
    value = metric.compute()
    metric.reset()
    return value


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
    # Batch figures logged at every `trainer.log_every_n_steps`-th training step as well, as train/<name>_step (their
    # epoch means are train/<name>, like every figure's).
    step_figures: tuple[str, ...] = ("loss",)

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.optimizer_config, self.scheduler_config = optimizer, scheduler
        self.regularization = {"l1": 0.0, "l2": 0.0, **(regularization or {})}
        self.learning_rate_scales: dict[str, float] = {}
        self.saved_schedule_lengths: list[dict[str, Any]] = []
        # The name the test loop logs under: `dltrain eval data.split=val` renames it.
        self.eval_stage = "test"
        self.batch_means: dict[str, BatchMeans] = {}

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs)

    def deployable(self) -> nn.Module:
        """What predict runs and export writes: the model, or the model with what turns its outputs into answers
        (a regression's units)."""
        return self.model

    def evaluation_pictures(self, folder: Path) -> list[tuple[str, Path]]:
        """Pictures of the last test loop that dltrain eval saves into `folder` (a confusion matrix, predicted
        against true values), as (what, path); none here."""
        return []

    def penalties(self) -> dict[str, torch.Tensor]:
        return regularization_penalties(self.model, **self.regularization)

    def configure_optimizers(self) -> Any:
        groups = parameter_groups(self.model, self.learning_rate_scales)
        return lightning_optimizers(self.optimizer_config, self.scheduler_config, groups,
                                    self.trainer.estimated_stepping_batches)

    def log_batch(self, stage: str, figures: dict[str, torch.Tensor], batch_size: int) -> None:
        """Add a batch's figures (losses, penalties) to the loop's means, logged once at its end as <stage>/<name>;
        the `step_figures` of training batches are also logged when Lightning writes its step logs."""
        self.batch_means.setdefault(stage, BatchMeans()).add(figures, batch_size)
        if stage == "train" and self._writes_step_logs():
            shown = {f"train/{name}_step": figures[name].detach() for name in self.step_figures if name in figures}
            if shown:
                self.log_dict(shown, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)

    def loop_figures(self, loop: str) -> dict[str, Any]:
        """Figures of a whole loop (train, val or test), computed at its end from states its batches accumulated
        (metrics, confusion matrices), as name -> value; logged as <stage>/<name>. None here."""
        return {}

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_index: int) -> None:
        """The training loop's figures are logged with its last batch (the epoch's, or the run's at
        trainer.max_steps), so that the callbacks that report the epoch see them: Lightning calls them before the
        module's own on_train_epoch_end."""
        trainer = self.trainer
        if batch_index + 1 >= trainer.num_training_batches or 0 <= trainer.max_steps <= trainer.global_step:
            self.log_loop("train")

    def on_train_epoch_end(self) -> None:
        """An epoch that ended otherwise logs its figures here, for the logger."""
        if "train" in self.batch_means:
            self.log_loop("train")

    def on_validation_epoch_end(self) -> None:
        self.log_loop("val")

    def on_test_epoch_end(self) -> None:
        self.log_loop("test")

    def log_loop(self, loop: str) -> None:
        """The means of the loop's batch figures and its `loop_figures`, averaged over processes. The test loop
        logs under `eval_stage`."""
        stage = self.eval_stage if loop == "test" else loop
        means = self.batch_means.pop(stage, None)
        figures = {**(means.means() if means is not None else {}), **self.loop_figures(loop)}
        logged = {f"{stage}/{name}": value for name, value in figures.items()}
        if logged:
            self.log_dict(logged, on_step=False, on_epoch=True, prog_bar=loop != "test", sync_dist=True, batch_size=1)

    def _writes_step_logs(self) -> bool:
        """Whether Lightning writes step logs after this batch (every trainer.log_every_n_steps-th)."""
        connector = getattr(self.trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))

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
