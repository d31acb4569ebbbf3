"""Semantic segmentation: a class for every pixel, learned with per-pixel cross-entropy (and optionally a Dice term),
judged by intersection over union."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional
from torchmetrics.classification import MulticlassConfusionMatrix

from dltrain.data.dense.scenes import IGNORE_INDEX
from dltrain.tasks.base import Task, computed


class SegmentationTask(Task):
    """Trains `model` (images -> class scores per pixel, N x classes x H x W). Pixels marked IGNORE_INDEX (255) count
    in neither loss nor metrics. `dice_weight` adds that much of the soft Dice loss, which weighs each class by its own
    area and so helps small classes that cross-entropy, counting pixels, neglects.

    Every stage logs loss, miou (mean of the per-class IoU over the classes present), dice and pixel_acc; the test
    loop adds iou_<class> and dice_<class> for each class. best.ckpt and early stopping follow val/miou.
    """

    target_kinds = ("masks",)
    model_kinds = ("segmenter",)
    monitor = "val/miou"
    monitor_mode = "max"
    # What eval writes to per_class.csv for each class (logged as <split>/<figure>_<class>).
    per_class_figures = ("iou", "dice")

    def __init__(self, model: nn.Module, num_classes: int, class_names: list[str], optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None,
                 dice_weight: float = 0.0, pictures: int = 8) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        if dice_weight < 0:
            raise ValueError(f"task.dice_weight must be >= 0, got {dice_weight}")
        self.num_classes, self.class_names = num_classes, list(class_names)
        self.dice_weight, self.pictures = dice_weight, pictures
        # Confusion matrices over the pixels of each loop: every figure derives from them.
        self.train_pixels, self.val_pixels, self.test_pixels = (
            MulticlassConfusionMatrix(num_classes, ignore_index=IGNORE_INDEX, validate_args=False) for _ in range(3))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        images, masks = batch
        scores = self(images)
        loss = functional.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX)
        if self.dice_weight:
            loss = loss + self.dice_weight * soft_dice_loss(scores, masks)
        confusion = {"train": self.train_pixels, "val": self.val_pixels}.get(stage, self.test_pixels)
        confusion.update(scores.argmax(dim=1), masks)
        self.log_batch(stage, {"loss": loss}, len(images))
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        penalties = self.penalties()
        if penalties:
            self.log_batch("train", penalties, len(batch[0]))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._step(batch, self.eval_stage)

    def loop_figures(self, loop: str) -> dict[str, Any]:
        """mIoU, Dice and pixel accuracy from the loop's confusion matrix; per class in the test loop."""
        confusion = {"train": self.train_pixels, "val": self.val_pixels, "test": self.test_pixels}[loop]
        figures = segmentation_figures(computed(confusion).double())
        logged = {name: figures[name] for name in ("miou", "dice", "pixel_acc")}
        if loop == "test":
            for index, name in enumerate(self.class_names):
                logged[f"iou_{name}"] = figures["iou"][index]
                logged[f"dice_{name}"] = figures["dice_per_class"][index]
        return {key: float(value) for key, value in logged.items()}

    def configure_callbacks(self) -> list[pl.Callback]:
        from dltrain.tasks.dense.pictures import SegmentationPictures

        return [SegmentationPictures(self.pictures)] if self.pictures else []


def segmentation_figures(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """From a confusion matrix (rows: true class, columns: predicted): per-class IoU and Dice (NaN for a class in
    neither truth nor prediction), their means over the classes that are present, and pixel accuracy."""
    true_positive = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - true_positive
    iou = true_positive / union
    dice = 2 * true_positive / (union + true_positive)
    total = confusion.sum()
    return {"iou": iou, "dice_per_class": dice, "miou": iou.nanmean(), "dice": dice.nanmean(),
            "pixel_acc": true_positive.sum() / total if total > 0 else torch.tensor(float("nan"))}


def soft_dice_loss(scores: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 - the mean over classes of 2|P∩T| / (|P| + |T|), with softmax probabilities for P; ignored pixels left out."""
    valid = (masks != IGNORE_INDEX).unsqueeze(1)
    probabilities = scores.softmax(dim=1) * valid
    target = functional.one_hot(masks.clamp(max=scores.shape[1] - 1), scores.shape[1]).permute(0, 3, 1, 2) * valid
    overlap = (probabilities * target).sum(dim=(0, 2, 3))
    sizes = probabilities.sum(dim=(0, 2, 3)) + target.sum(dim=(0, 2, 3))
    return 1 - ((2 * overlap + 1) / (sizes + 1)).mean()
