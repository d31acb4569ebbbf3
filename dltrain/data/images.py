"""Image datasets: stored compactly, turned into model inputs a whole batch at a time on the training device."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dltrain.data.image_pipeline import ImageBatchPipeline
from dltrain.data.in_memory import InMemoryDataModule
from dltrain.errors import UserError


class ImageDataModule(InMemoryDataModule):
    """Images held as (N, C, H, W) tensors, uint8 when the source is 8-bit; see ImageBatchPipeline for what
    happens to each batch. `spec` reports the channels and size after conversion and resizing, which is what
    the model sees."""

    input_kind = "images"

    def __init__(self, image_size: int | str | None = None, augment: dict | None = None,
                 normalize: dict | None = None, channels: int | None = None, **split_options) -> None:
        super().__init__(**split_options)
        if image_size == "auto":  # a set held in memory has one size: its own
            image_size = None
        whole = isinstance(image_size, int) and not isinstance(image_size, bool)
        if image_size is not None and not (whole and image_size >= 1):
            raise UserError(f"data.image_size={image_size} is invalid",
                            "pass a size in pixels, e.g. 32, or auto for the images' own size")
        self.pipeline = ImageBatchPipeline(image_size, augment, normalize, channels)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        self.pipeline.check_channels(self.spec["in_channels"])

    @property
    def sizes(self) -> dict:
        sizes = super().sizes
        if self.pipeline.image_size:
            sizes["input_size"] = [self.pipeline.image_size] * 2
        if self.pipeline.channels:
            sizes["in_channels"] = self.pipeline.channels
        return sizes

    def image_format(self) -> tuple[int, list[int]]:
        """The channels and size of what the model sees; sources whose config decides them answer without
        loading anything."""
        spec = self.spec
        return spec["in_channels"], spec["input_size"]

    def on_after_batch_transfer(self, batch: Sequence[torch.Tensor], dataloader_idx: int) -> tuple:
        inputs, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.pipeline(inputs, training), labels
