"""Single-label classification: cross-entropy, accuracy and macro F1, with optional L1/L2 penalties."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from dltrain.tasks.base import Task


class ClassificationTask(Task):
    """Trains `model` (inputs -> logits) with cross-entropy.

    Logs `train/loss`, `train/acc`, `val/loss`, `val/acc`, `val/f1` and, in the test loop,
    `<eval_stage>/loss|acc|f1` (eval_stage is `test` unless an evaluation of another split renames it).
    The test loop also fills `confusion` for a confusion-matrix plot. A model that returns a tuple while
    training (GoogLeNet's auxiliary classifiers) has its extra outputs' losses added, times aux_loss_weight.
    """

    # The model families (their modules' MODEL_KIND) this task can train.
    model_kinds = ("classifier",)

    def __init__(self, model: nn.Module, num_classes: int, optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None,
                 label_smoothing: float = 0.0, aux_loss_weight: float = 0.3) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.aux_loss_weight = aux_loss_weight
        metrics = MetricCollection({"acc": MulticlassAccuracy(num_classes, average="micro"),
                                    "f1": MulticlassF1Score(num_classes, average="macro")})
        self.train_metrics = metrics.clone()
        self.val_metrics = metrics.clone()
        self.test_metrics = metrics.clone()
        self.confusion = MulticlassConfusionMatrix(num_classes)
        self.eval_stage = "test"

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], metrics: MetricCollection, stage: str,
                  on_step: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        inputs, labels = batch
        outputs = self(inputs)
        logits, auxiliary = (outputs[0], tuple(outputs[1:])) if isinstance(outputs, tuple) else (outputs, ())
        loss = self.loss(logits, labels)
        metrics.update(logits, labels)
        batch_size = len(labels)
        # Evaluation losses are averaged over all processes so that every rank monitors the same val/loss.
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=batch_size,
                 sync_dist=stage != "train")
        self.log_dict({f"{stage}/{name}": metric for name, metric in metrics.items()}, on_step=False,
                      on_epoch=True, prog_bar=stage != "train", batch_size=batch_size)
        return loss, logits, auxiliary

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss, _, auxiliary = self._evaluate(batch, self.train_metrics, "train", on_step=True)
        penalties = self.penalties()
        if auxiliary:
            penalties["aux"] = self.aux_loss_weight * sum(self.loss(extra, batch[1]) for extra in auxiliary)
        for name, penalty in penalties.items():
            self.log(f"train/{name}", penalty, on_step=False, on_epoch=True, batch_size=len(batch[1]))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._evaluate(batch, self.val_metrics, "val", on_step=False)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        _, logits, _ = self._evaluate(batch, self.test_metrics, self.eval_stage, on_step=False)
        self.confusion.update(logits, batch[1])
