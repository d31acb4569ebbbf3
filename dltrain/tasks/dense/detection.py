"""Object detection: boxes with classes and scores, learned with the detector's own losses (they differ between
Faster R-CNN, RetinaNet, FCOS and SSD), judged by COCO's mean average precision."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from dltrain.tasks.base import Task, computed

Targets = list[dict[str, torch.Tensor]]


class DetectionTask(Task):
    """Trains a detector (dltrain/models/detectors.py). Training logs train/loss, the sum of the detector's losses, and
    each of them (train/classification, train/bbox_regression ...); evaluation logs COCO's figures through torchmetrics'
    MeanAveragePrecision: map (mAP@[.5:.95]), map_50, map_75 and mar_100, and in the test loop ap_<class> for each
    class. best.ckpt and early stopping follow val/map."""

    target_kinds = ("boxes",)
    model_kinds = ("detector",)
    monitor = "val/map"
    monitor_mode = "max"
    # What eval writes to per_class.csv for each class (logged as <split>/<figure>_<class>).
    per_class_figures = ("ap",)

    def __init__(self, model: nn.Module, class_names: list[str], optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None,
                 pictures: int = 8, picture_threshold: float = 0.5) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        self.class_names = list(class_names)
        self.pictures, self.picture_threshold = pictures, picture_threshold
        self.val_precision = mean_average_precision(per_class=False)
        self.test_precision = mean_average_precision(per_class=True)

    def training_step(self, batch: tuple[torch.Tensor, Targets], batch_index: int) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        loss = sum(losses.values())
        penalties = self.penalties()
        parts = {name.removeprefix("loss_"): value for name, value in losses.items()}
        self.log_batch("train", {"loss": loss, **parts, **penalties}, len(images))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, Targets], batch_index: int) -> None:
        images, targets = batch
        self.val_precision.update(self.model(images), targets)

    def test_step(self, batch: tuple[torch.Tensor, Targets], batch_index: int) -> None:
        images, targets = batch
        self.test_precision.update(self.model(images), targets)

    def loop_figures(self, loop: str) -> dict[str, Any]:
        """COCO mAP figures of the evaluation loop's detections; AP per class in the test loop."""
        if loop == "train":
            return {}
        metric = self.val_precision if loop == "val" else self.test_precision
        figures = computed(metric)
        logged = {name: float(figures[name]) for name in ("map", "map_50", "map_75", "mar_100")}
        per_class = figures.get("map_per_class")
        if per_class is not None and per_class.dim() == 1 and "classes" in figures:
            for index, value in zip(figures["classes"].tolist(), per_class.tolist(), strict=True):
                logged[f"ap_{self.class_names[index]}"] = float(value)
        return logged

    def configure_callbacks(self) -> list[pl.Callback]:
        from dltrain.tasks.dense.pictures import DetectionPictures

        return [DetectionPictures(self.pictures, self.picture_threshold)] if self.pictures else []


def mean_average_precision(per_class: bool):
    """torchmetrics' COCO evaluation of boxes (pycocotools underneath); -1 in its figures means no box to judge."""
    from torchmetrics.detection import MeanAveragePrecision

    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=per_class)
