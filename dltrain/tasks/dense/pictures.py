"""Pictures of dense predictions, since people would rather look than read: masks as colour overlays on their images
(and mask PNGs whose pixel values are the class ids, in the same colours), boxes outlined and labelled. A run writes
predictions.png after every validation epoch: its first validation images with the true masks or boxes (top row)
over the predicted ones (bottom row)."""

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


class ValidationPictures(pl.Callback):
    """predictions.png in the run directory, rewritten after each validation epoch by the first process: the first
    `count` validation images with their true targets (top row) over the model's predictions (bottom row); `picture`
    draws both rows from the raw images, the targets and the model's outputs."""

    def __init__(self, count: int = 8) -> None:
        self.count = count

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        data = trainer.datamodule
        raw_images, targets = next(iter(data.val_dataloader()))
        raw_images, targets = raw_images[: self.count].cpu(), targets[: self.count]
        inputs, _ = data.on_after_batch_transfer((raw_images, targets), 0)
        with torch.no_grad():
            outputs = pl_module.model(inputs.to(pl_module.device))
        save_grid(self.picture(raw_images, targets, outputs, pl_module.class_names),
                  Path(trainer.default_root_dir) / "predictions.png", len(raw_images))

    def picture(self, images: torch.Tensor, targets, outputs, class_names: list[str]) -> torch.Tensor:
        raise NotImplementedError


class SegmentationPictures(ValidationPictures):
    """Masks as colour overlays."""

    def picture(self, images: torch.Tensor, targets, outputs, class_names: list[str]) -> torch.Tensor:
        shown = images.float() / 255
        return torch.cat([overlay(shown, targets.cpu()), overlay(shown, outputs.argmax(dim=1).cpu())])


def draw_boxes(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, class_names: list[str],
               scores: torch.Tensor | None = None) -> torch.Tensor:
    """A uint8 (3, H, W) copy of `image` with each box outlined in its class's colour and labelled (with its score)."""
    from torchvision.utils import draw_bounding_boxes

    colours = (palette().astype(np.int32) * 2).clip(0, 255)  # as bright as the overlays' colours
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    names = [class_names[int(label)] + (f" {float(score):.2f}" if scores is not None else "")
             for label, score in zip(labels, scores if scores is not None else labels, strict=True)]
    boxes_colours = [tuple(int(value) for value in colours[int(label) + 1]) for label in labels]
    return draw_bounding_boxes(rgb, boxes.round(), names, colors=boxes_colours, width=1, font_size=10)


class DetectionPictures(ValidationPictures):
    """Boxes outlined in their class's colour; the detections scoring at least `threshold`, with their scores."""

    def __init__(self, count: int = 8, threshold: float = 0.5) -> None:
        super().__init__(count)
        self.threshold = threshold

    def picture(self, images: torch.Tensor, targets, outputs, class_names: list[str]) -> torch.Tensor:
        truth = [draw_boxes(image, target["boxes"].cpu(), target["labels"].cpu(), class_names)
                 for image, target in zip(images, targets, strict=True)]
        found = []
        for image, detection in zip(images, outputs, strict=True):
            confident = detection["scores"] >= self.threshold
            found.append(draw_boxes(image, detection["boxes"][confident].cpu(), detection["labels"][confident].cpu(),
                                    class_names, detection["scores"][confident].cpu()))
        return torch.stack(truth + found).float() / 255
