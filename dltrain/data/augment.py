"""Augmentation of whole training batches on the device they sit on, so it costs no loader workers.

Every transform draws from torch's global generator, one draw per image, so `seed` makes runs repeatable.
Inputs are float image batches (N, C, H, W) with values in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional

BatchTransform = Callable[[torch.Tensor], torch.Tensor]


class RandomAffine:
    """Rotates each image by up to `rotation` degrees and shifts it by up to `shift` of its size."""

    def __init__(self, rotation: float = 0.0, shift: float = 0.0) -> None:
        self.rotation, self.shift = rotation, shift

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count, device = images.shape[0], images.device
        angle = (torch.rand(count, device=device) * 2 - 1) * math.radians(self.rotation)
        offset = (torch.rand(count, 2, device=device) * 2 - 1) * 2 * self.shift
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], dim=1),
                             torch.stack([sin, cos, offset[:, 1]], dim=1)], dim=1)
        grid = functional.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        return functional.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


class RandomCrop:
    """Pads each side with `padding` zeros and cuts a window of the original size at a random position:
    the CIFAR recipe of He et al. (2016), shifts of up to `padding` pixels without interpolation."""

    def __init__(self, padding: int) -> None:
        self.padding = padding

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, width = images.shape
        padded = functional.pad(images, [self.padding] * 4)
        device = images.device
        top = torch.randint(0, 2 * self.padding + 1, (count, 1), device=device)
        left = torch.randint(0, 2 * self.padding + 1, (count, 1), device=device)
        rows = (top + torch.arange(height, device=device))[:, :, None]
        cols = (left + torch.arange(width, device=device))[:, None, :]
        batch = torch.arange(count, device=device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


class RandomFlip:
    """Mirrors each image left-right with probability 0.5 (right for photos, wrong for digits and text)."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(images.shape[0], device=images.device) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(-1), images)


class ColorJitter:
    """Scales brightness, contrast and (for colour images) saturation of each image by factors drawn from
    [1 - strength, 1 + strength], as torchvision's ColorJitter does one image at a time."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def _factors(self, images: torch.Tensor) -> torch.Tensor:
        draw = torch.rand(images.shape[0], 1, 1, 1, device=images.device, dtype=images.dtype)
        return 1 + (draw * 2 - 1) * self.strength

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = (images * self._factors(images)).clamp(0, 1)
        gray = _grayscale(images)
        mean = gray.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * self._factors(images) + mean).clamp(0, 1)
        if images.shape[1] == 3:
            gray = _grayscale(images)
            images = ((images - gray) * self._factors(images) + gray).clamp(0, 1)
        return images


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] != 3:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)
    return (images * weights[None, :, None, None]).sum(dim=1, keepdim=True)


def build_augment(crop_padding: int = 0, flip: bool = False, rotation: float = 0.0, shift: float = 0.0,
                  color_jitter: float = 0.0) -> list[BatchTransform]:
    """The transforms `data.augment` asks for, in the order they apply; empty when it asks for none."""
    if crop_padding < 0 or rotation < 0 or not 0 <= shift < 1 or not 0 <= color_jitter < 1:
        raise ValueError("data.augment needs crop_padding >= 0, rotation >= 0, shift in [0, 1) and "
                         f"color_jitter in [0, 1); got {crop_padding}, {rotation}, {shift} and {color_jitter}")
    transforms: list[BatchTransform] = []
    if crop_padding:
        transforms.append(RandomCrop(int(crop_padding)))
    if flip:
        transforms.append(RandomFlip())
    if rotation or shift:
        transforms.append(RandomAffine(rotation, shift))
    if color_jitter:
        transforms.append(ColorJitter(color_jitter))
    return transforms
