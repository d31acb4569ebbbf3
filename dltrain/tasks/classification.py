"""Single-label classification: cross-entropy, accuracy and macro F1, with optional L1/L2 penalties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from dltrain.tasks.base import Task, computed
from dltrain.tasks.batch_means import FOLD


class ClassificationTask(Task):
    """Trains `model` (inputs -> logits) with cross-entropy.

    Logs `train/loss`, `train/acc`, `train/f1`, `val/loss`, `val/acc`, `val/f1` and, in the test loop,
    `<eval_stage>/loss|acc|f1` (eval_stage is `test` unless an evaluation of another split renames it).
    The test loop also fills `confusion` for a confusion-matrix plot. A model that returns a tuple while
    training (GoogLeNet's auxiliary classifiers) has its extra outputs' losses added, times aux_loss_weight.
    Training accuracy and F1 come from a confusion count kept on the device (a batch's predictions are kept and
    counted in one bincount every FOLD batches, no synchronisation); evaluation loops use torchmetrics.
    """

    # The model families (their modules' MODEL_KIND) this task can train.
    model_kinds = ("classifier",)

    def __init__(self, model: nn.Module, num_classes: int, optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None,
                 label_smoothing: float = 0.0, aux_loss_weight: float = 0.3,
                 class_names: list[str] | None = None) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        self.class_names = list(class_names or map(str, range(num_classes)))
        self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.aux_loss_weight = aux_loss_weight
        self.num_classes = num_classes
        metrics = MetricCollection({"acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False),
                                    "f1": MulticlassF1Score(num_classes, average="macro", validate_args=False)})
        self.val_metrics = metrics.clone()
        self.test_metrics = metrics.clone()
        self.confusion = MulticlassConfusionMatrix(num_classes, validate_args=False)
        self.train_confusion = ConfusionCounts(num_classes)

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                             tuple[torch.Tensor, ...]]:
        outputs = self(batch[0])
        logits, auxiliary = (outputs[0], tuple(outputs[1:])) if isinstance(outputs, tuple) else (outputs, ())
        return self.loss(logits, batch[1]), logits, auxiliary

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss, logits, auxiliary = self._evaluate(batch)
        labels = batch[1]
        penalties = self.penalties()
        if auxiliary:
            penalties["aux"] = self.aux_loss_weight * sum(self.loss(extra, labels) for extra in auxiliary)
        self.log_batch("train", {"loss": loss, **penalties}, len(labels))
        self.train_confusion.add(labels, logits.detach().argmax(dim=1))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        loss, logits, _ = self._evaluate(batch)
        self.log_batch("val", {"loss": loss}, len(batch[1]))
        self.val_metrics.update(logits, batch[1])

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        loss, logits, _ = self._evaluate(batch)
        self.log_batch(self.eval_stage, {"loss": loss}, len(batch[1]))
        self.test_metrics.update(logits, batch[1])
        self.confusion.update(logits, batch[1])

    def evaluation_pictures(self, folder: Path) -> list[tuple[str, Path]]:
        from dltrain.plots import save_confusion_matrix

        matrix = self.confusion.compute().cpu()
        return [("confusion matrix", save_confusion_matrix(matrix, self.class_names, folder / "confusion_matrix.png"))]

    def loop_figures(self, loop: str) -> dict[str, Any]:
        if loop == "train":
            counts = self.train_confusion.pop()
            return {} if counts is None else accuracy_and_f1(counts)
        return computed(self.val_metrics if loop == "val" else self.test_metrics)


class ConfusionCounts:
    """A loop's confusion count (rows: true class, columns: predicted) from its batches' labels and predictions,
    which are kept and counted together every FOLD batches: one operation a batch instead of five."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.counts: torch.Tensor | None = None

    def add(self, labels: torch.Tensor, predictions: torch.Tensor) -> None:
        self.kept.append((labels, predictions))
        if len(self.kept) >= FOLD:
            self._fold()

    def pop(self) -> torch.Tensor | None:
        """The count so far, as a num_classes x num_classes matrix (None before any batch); the next starts empty."""
        self._fold()
        counts, self.counts = self.counts, None
        return None if counts is None else counts.view(self.num_classes, self.num_classes)

    def _fold(self) -> None:
        if not self.kept:
            return
        labels, predictions = (torch.cat(parts) for parts in zip(*self.kept, strict=True))
        self.kept = []
        pairs = torch.bincount(labels * self.num_classes + predictions, minlength=self.num_classes**2)
        self.counts = pairs if self.counts is None else self.counts + pairs


def accuracy_and_f1(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """Accuracy and macro F1 from a confusion count (rows: true class, columns: predicted), as torchmetrics
    computes them: classes neither present nor predicted are left out of the F1 mean."""
    confusion = confusion.double()
    true_positives = confusion.diagonal()
    wrong = confusion.sum(dim=0) + confusion.sum(dim=1) - 2 * true_positives
    seen = (true_positives + wrong) > 0
    f1 = 2 * true_positives / (2 * true_positives + wrong).clamp_min(1)
    return {"acc": (true_positives.sum() / confusion.sum().clamp_min(1)).float(),
            "f1": (f1[seen].sum() / seen.sum().clamp_min(1)).float()}
