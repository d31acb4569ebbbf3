"""Image datasets: stored compactly, turned into model inputs a whole batch at a time on the training device."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional

from dltrain.data.augment import build_augment
from dltrain.data.in_memory import InMemoryDataModule
from dltrain.errors import UserError


class ImageBatchPipeline:
    """uint8 or [0, 1] float images -> float in [0, 1] -> resized to `image_size` -> augmented (training
    only) -> normalized with the dataset's per-channel mean and std.

    Doing this per batch on the device keeps 8-bit datasets at a quarter of their float size in memory and
    lets the GPU, not loader workers, do the augmentation.
    """

    def __init__(self, image_size: int | None = None, augment: dict | None = None,
                 normalize: dict | None = None) -> None:
        self.image_size = image_size
        self.augment = build_augment(**(augment or {}))
        self.mean, self.std = _statistics(normalize)

    def check_channels(self, channels: int) -> None:
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) not in (1, channels):
                raise UserError(f"data.normalize.{name} has {len(values)} values but the images have "
                                f"{channels} channel(s)", "give one value per channel, or null to not normalize")

    def __call__(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.image_size and tuple(images.shape[-2:]) != (self.image_size, self.image_size):
            images = functional.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                            align_corners=False, antialias=images.shape[-1] > self.image_size)
        if training:
            for transform in self.augment:
                images = transform(images)
        if self.mean is not None:
            mean, std = (torch.tensor(values, device=images.device)[None, :, None, None]
                         for values in (self.mean, self.std))
            images = (images - mean) / std
        return images


def _statistics(normalize: dict | None) -> tuple[list[float] | None, list[float] | None]:
    if not normalize:
        return None, None
    mean, std = list(normalize.get("mean") or []), list(normalize.get("std") or [])
    if not mean or not std or any(value <= 0 for value in std):
        raise UserError(f"data.normalize needs a mean and a positive std per channel, got {normalize}",
                        "pass e.g. data.normalize.mean=[0.5] data.normalize.std=[0.25], or data.normalize=null")
    return [float(value) for value in mean], [float(value) for value in std]


class ImageDataModule(InMemoryDataModule):
    """Images held as (N, C, H, W) tensors, uint8 when the source is 8-bit; see ImageBatchPipeline for what
    happens to each batch. `spec` reports the size after resizing, which is what the model sees."""

    def __init__(self, image_size: int | None = None, augment: dict | None = None,
                 normalize: dict | None = None, **split_options) -> None:
        super().__init__(**split_options)
        if image_size is not None and image_size < 1:
            raise UserError(f"data.image_size={image_size} is invalid", "pass a size in pixels, e.g. 32, or null")
        self.pipeline = ImageBatchPipeline(image_size, augment, normalize)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        self.pipeline.check_channels(self.spec["in_channels"])

    @property
    def spec(self) -> dict:
        spec = super().spec
        if self.pipeline.image_size:
            spec["input_size"] = [self.pipeline.image_size] * 2
        return spec

    def on_after_batch_transfer(self, batch: Sequence[torch.Tensor], dataloader_idx: int) -> tuple:
        inputs, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.pipeline(inputs, training), labels
