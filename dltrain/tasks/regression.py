"""Regression: one or more numbers per example, learned standardized and reported in their own units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from dltrain.errors import UserError
from dltrain.tasks.base import Task, computed

LOSSES = ("mse", "huber", "mae")


class InOriginalUnits(nn.Module):
    """A model whose outputs are standardized targets, answering in the targets' own units: what predict and export
    run, so that a deployed model needs no statistics beside it."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs) * self.std + self.mean


class RegressionFigures(Metric):
    """MAE, RMSE and R² per target from sums kept on the device (summed over processes at the end of a loop)."""

    full_state_update = False

    def __init__(self, num_targets: int) -> None:
        super().__init__()
        for name in ("absolute", "squared", "total", "total_squared"):
            self.add_state(name, torch.zeros(num_targets, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        predictions, targets = predictions.double(), targets.double()
        errors = predictions - targets
        self.absolute += errors.abs().sum(dim=0)
        self.squared += errors.square().sum(dim=0)
        self.total += targets.sum(dim=0)
        self.total_squared += targets.square().sum(dim=0)
        self.count += len(targets)

    def compute(self) -> dict[str, torch.Tensor]:
        count = self.count.clamp_min(1)
        spread = self.total_squared - self.total.square() / count
        return {"mae": (self.absolute / count).float(), "rmse": (self.squared / count).sqrt().float(),
                "r2": (1 - self.squared / spread).float()}


class RegressionTask(Task):
    """Trains `model` (inputs -> one output per target) to predict numbers.

    The targets are standardized with the train split's mean and deviation (buffers saved with the weights), so the
    loss sees numbers near 1 whatever their units: `loss` is mse, huber (`huber_delta` in standard deviations) or
    mae. MAE and RMSE are reported in the targets' own units, R² as the share of variance explained (uniformly
    averaged over several targets, which also get figures of their own as <figure>_<target>). The test loop keeps
    its predictions for eval's predicted-vs-true plot.
    """

    model_kinds = ("classifier",)
    target_kinds = ("numbers",)

    def __init__(self, model: nn.Module, num_targets: int, optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None,
                 class_names: list[str] | None = None, loss: str = "mse", huber_delta: float = 1.0) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        if loss not in LOSSES:
            raise UserError(f"task.loss={loss} is invalid for regression", f"choose one of: {', '.join(LOSSES)}")
        if not huber_delta > 0:
            raise UserError(f"task.huber_delta={huber_delta} is invalid", "pass a number above 0, e.g. 1.0")
        self.loss = {"mse": nn.MSELoss(), "huber": nn.HuberLoss(delta=huber_delta), "mae": nn.L1Loss()}[loss]
        self.target_names = list(class_names or [f"target{index}" for index in range(num_targets)])
        self.register_buffer("target_mean", torch.zeros(num_targets))
        self.register_buffer("target_std", torch.ones(num_targets))
        self.train_figures = RegressionFigures(num_targets)
        self.val_figures = RegressionFigures(num_targets)
        self.test_figures = RegressionFigures(num_targets)
        self.tested: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_fit_start(self) -> None:
        """The targets' statistics come from the train split of the data being fitted (the same on resume)."""
        mean, std = self.trainer.datamodule.target_statistics()
        self.target_mean.copy_(mean)
        self.target_std.copy_(std)

    def in_units(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs * self.target_std + self.target_mean

    def deployable(self) -> nn.Module:
        return InOriginalUnits(self.model, self.target_mean, self.target_std)

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], loop: str) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = batch
        outputs = self(inputs)
        if outputs.shape != targets.shape:
            raise UserError(f"the model gives {list(outputs.shape[1:])} outputs per example for "
                            f"{targets.shape[1]} target(s)", "give the model one output per target (num_classes)")
        loss = self.loss(outputs, (targets - self.target_mean) / self.target_std)
        predictions = self.in_units(outputs.detach())
        self._figures(loop).update(predictions, targets)
        return loss, predictions

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss, _ = self._evaluate(batch, "train")
        penalties = self.penalties()
        self.log_batch("train", {"loss": loss, **penalties}, len(batch[1]))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        loss, _ = self._evaluate(batch, "val")
        self.log_batch("val", {"loss": loss}, len(batch[1]))

    def on_test_epoch_start(self) -> None:
        self.tested = []

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        loss, predictions = self._evaluate(batch, "test")
        self.log_batch(self.eval_stage, {"loss": loss}, len(batch[1]))
        self.tested.append((predictions.cpu(), batch[1].cpu()))

    def loop_figures(self, loop: str) -> dict[str, Any]:
        per_target = computed(self._figures(loop))
        figures = {name: values.mean() for name, values in per_target.items()}
        if len(self.target_names) > 1:
            figures.update({f"{name}_{target}": values[index] for name, values in per_target.items()
                            for index, target in enumerate(self.target_names)})
        return figures

    def _figures(self, loop: str) -> RegressionFigures:
        return {"train": self.train_figures, "val": self.val_figures, "test": self.test_figures}[loop]

    def evaluation_pictures(self, folder: Path) -> list[tuple[str, Path]]:
        from dltrain.plots import save_predicted_against_true

        if not self.tested:
            return []
        predictions, targets = (torch.cat(parts) for parts in zip(*self.tested, strict=True))
        path = save_predicted_against_true(predictions, targets, self.target_names, folder / "predicted_vs_true.png")
        return [("predicted vs true", path)]
