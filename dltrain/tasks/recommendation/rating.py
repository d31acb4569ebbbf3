"""Explicit feedback: predict the rating a user would give an item; judged by RMSE and MAE beside the RMSE of
always predicting the training ratings' mean."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from dltrain.tasks.base import Task, computed


class RatingTask(Task):
    """Trains a recommender (a score per (user, item) pair) with the squared error to the ratings. Logs `loss`
    (MSE), `rmse` and `mae` for train/val/test, and `rmse_mean_baseline` in the test loop: what predicting the
    training mean for everyone scores, so the user sees what the model adds."""

    model_kinds = ("recommender",)
    target_kinds = ("ratings",)

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        metrics = MetricCollection({"rmse": MeanSquaredError(squared=False), "mae": MeanAbsoluteError()})
        self.train_metrics, self.val_metrics, self.test_metrics = (metrics.clone() for _ in range(3))
        self.baseline = MeanSquaredError(squared=False)
        self.register_buffer("training_mean", torch.zeros(()))

    def setup(self, stage: str) -> None:
        """The training ratings' mean, the baseline's one prediction, and for a model that reads the training ratings
        themselves (AutoRec's `observe`) those; both kept in the checkpoint for eval and predict."""
        data = self.trainer.datamodule if self.trainer is not None else None
        if stage == "fit" and data is not None:
            pairs, ratings = data.splits["train"]
            self.training_mean.fill_(float(ratings.float().mean()))
            if hasattr(self.model, "observe"):
                self.model.observe(pairs.to(self.training_mean.device), ratings.to(self.training_mean.device))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], metrics: MetricCollection, stage: str) -> torch.Tensor:
        pairs, ratings = batch
        predicted = self(pairs)
        loss = functional.mse_loss(predicted, ratings)
        metrics.update(predicted.detach(), ratings)
        self.log_batch(stage, {"loss": loss}, len(pairs))
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss = self._step(batch, self.train_metrics, "train")
        penalties = self.penalties()
        if penalties:
            self.log_batch("train", penalties, len(batch[0]))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._step(batch, self.val_metrics, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._step(batch, self.test_metrics, self.eval_stage)
        ratings = batch[1]
        self.baseline.update(self.training_mean.expand_as(ratings), ratings)

    def loop_figures(self, loop: str) -> dict[str, Any]:
        metrics = {"train": self.train_metrics, "val": self.val_metrics, "test": self.test_metrics}[loop]
        figures = dict(computed(metrics))
        if loop == "test":
            figures["rmse_mean_baseline"] = computed(self.baseline)
        return figures
