"""Pictures of dense predictions: masks as colour overlays on their images (and mask PNGs whose pixel values are the
class ids, shown in the same colours). A run writes predictions.png after every validation epoch: its first validation
images with the true masks (top row) and the predicted ones (bottom row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from dltrain.data.dense.scenes import IGNORE_INDEX
from dltrain.plots import save_grid


def palette(count: int = 256) -> np.ndarray:
    """(count, 3) uint8 colours: Pascal VOC's palette (class 0 black, then well-separated colours), the one its mask
    PNGs use, so dltrain's masks look like VOC's."""
    colours = np.zeros((count, 3), dtype=np.uint8)
    for index in range(count):
        value = index
        for bit in range(8):
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
    return colours


def overlay(images: torch.Tensor, masks: torch.Tensor, alpha: float = 0.6) -> torch.Tensor:
    """Float images (N, C, H, W) in [0, 1] with each pixel of a class other than 0 (the background, in VOC and most
    masks) blended with a bright version of its class colour; ignored pixels white."""
    colours = torch.from_numpy(palette()).float().div(128).clamp(max=1).to(images.device)
    colours[IGNORE_INDEX] = 1.0
    ids = masks.long().clamp(0, 255)
    tinted = colours[ids].permute(0, 3, 1, 2)
    rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    blended = (1 - alpha) * rgb + alpha * tinted
    return torch.where((ids > 0).unsqueeze(1), blended, rgb)


class SegmentationPictures(pl.Callback):
    """predictions.png in the run directory, rewritten after each validation epoch by the first process: `count`
    validation images with their true masks over the predicted ones."""

    def __init__(self, count: int = 8) -> None:
        self.count = count

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        data = trainer.datamodule
        raw_images, true_masks = next(iter(data.val_dataloader()))
        raw_images, true_masks = raw_images[: self.count], true_masks[: self.count]
        inputs, _ = data.on_after_batch_transfer((raw_images, true_masks), 0)
        with torch.no_grad():
            predicted = pl_module(inputs.to(pl_module.device)).argmax(dim=1).cpu()
        shown = raw_images.float().cpu() / 255
        grid = torch.cat([overlay(shown, true_masks.cpu()), overlay(shown, predicted)])
        save_grid(grid, Path(trainer.default_root_dir) / "predictions.png", len(shown))


def draw_boxes(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, class_names: list[str],
               scores: torch.Tensor | None = None) -> torch.Tensor:
    """A uint8 (3, H, W) copy of `image` with each box outlined in its class's colour and labelled (with its score)."""
    from torchvision.utils import draw_bounding_boxes

    colours = palette()
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    names = [class_names[int(label)] + (f" {float(score):.2f}" if scores is not None else "")
             for label, score in zip(labels, scores if scores is not None else labels, strict=True)]
    boxes_colours = [tuple(int(value) for value in colours[int(label) + 1]) for label in labels]
    return draw_bounding_boxes(rgb, boxes.round(), names, colors=boxes_colours, width=1, font_size=10)


class DetectionPictures(pl.Callback):
    """predictions.png in the run directory, rewritten after each validation epoch by the first process: `count`
    validation images with their true boxes over the detected ones scoring at least `threshold`."""

    def __init__(self, count: int = 8, threshold: float = 0.5) -> None:
        self.count, self.threshold = count, threshold

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        data = trainer.datamodule
        raw_images, targets = next(iter(data.val_dataloader()))
        raw_images, targets = raw_images[: self.count], targets[: self.count]
        inputs, _ = data.on_after_batch_transfer((raw_images, targets), 0)
        with torch.no_grad():
            detections = pl_module.model(inputs.to(pl_module.device))
        names = pl_module.class_names
        truth = [draw_boxes(image.cpu(), target["boxes"].cpu(), target["labels"].cpu(), names)
                 for image, target in zip(raw_images, targets, strict=True)]
        found = []
        for image, detection in zip(raw_images, detections, strict=True):
            confident = detection["scores"] >= self.threshold
            found.append(draw_boxes(image.cpu(), detection["boxes"][confident].cpu(),
                                    detection["labels"][confident].cpu(), names, detection["scores"][confident].cpu()))
        grid = torch.stack(truth + found).float() / 255
        save_grid(grid, Path(trainer.default_root_dir) / "predictions.png", len(truth))
