"""Images to model inputs, without Lightning (predict reads files with it): decoding a file, and the batch
pipeline that scales, resizes, augments and normalizes on the device the model runs on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional

from dltrain.data.augment import build_augment
from dltrain.errors import UserError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
# What PIL raises for files it cannot decode: unknown format and truncation (OSError), bad headers
# (SyntaxError, ValueError), and images too large to be safe (DecompressionBombError).
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


# ITU-R 601-2 luma weights, what PIL uses to turn RGB into grayscale ("L").
LUMA = (0.299, 0.587, 0.114)


class ImageBatchPipeline:
    """uint8 or [0, 1] float images -> float in [0, 1] -> `channels` (grayscale repeated to RGB, or RGB
    turned to luma) -> resized to `image_size` -> augmented (training only) -> normalized with the dataset's
    per-channel mean and std.

    Doing this per batch on the device keeps 8-bit datasets at a quarter of their float size in memory and
    lets the GPU, not loader workers, do the augmentation.
    """

    def __init__(self, image_size: int | None = None, augment: dict | None = None,
                 normalize: dict | None = None, channels: int | None = None) -> None:
        if channels not in (None, 1, 3):
            raise UserError(f"data.channels={channels} is invalid", "pass 1 (grayscale), 3 (RGB) or null (as stored)")
        self.image_size, self.channels = image_size, channels
        self.augment = build_augment(**(augment or {}))
        self.mean, self.std = _statistics(normalize)

    def check_channels(self, channels: int) -> None:
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) not in (1, channels):
                raise UserError(f"data.normalize.{name} has {len(values)} values but the images have "
                                f"{channels} channel(s)", "give one value per channel, or null to not normalize")

    def __call__(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.channels and images.shape[1] != self.channels:
            images = convert_channels(images, self.channels)
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


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """N x C x H x W images with `channels` channels: one channel repeated to three, or three weighted to luma."""
    if channels == 3 and images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device)[None, :, None, None]
        return (images * weights).sum(dim=1, keepdim=True)
    raise UserError(f"cannot turn {images.shape[1]}-channel images into {channels}-channel ones",
                    "data.channels converts between 1 (grayscale) and 3 (RGB) only")


def _statistics(normalize: dict | None) -> tuple[list[float] | None, list[float] | None]:
    if not normalize:
        return None, None
    mean, std = list(normalize.get("mean") or []), list(normalize.get("std") or [])
    if not mean or not std or any(value <= 0 for value in std):
        raise UserError(f"data.normalize needs a mean and a positive std per channel, got {normalize}",
                        "pass e.g. data.normalize.mean=[0.5] data.normalize.std=[0.25], or data.normalize=null")
    return [float(value) for value in mean], [float(value) for value in std]


def decode_image(path: Path, size: int, channels: int) -> torch.Tensor:
    """uint8 (channels, size, size): the shorter side resized to `size`, the centre cut square."""
    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L")
        width, height = image.size
        scale = size / min(width, height)
        width, height = max(size, math.ceil(width * scale)), max(size, math.ceil(height * scale))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()
