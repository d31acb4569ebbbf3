"""Augmentation of whole training batches on the device they sit on, so it costs no loader workers."""

from __future__ import annotations

import math

import torch
from torch.nn import functional


class RandomAffine:
    """Rotates each image by up to `rotation` degrees and shifts it by up to `shift` of its size, each image
    drawn independently from torch's global generator (so `seed` makes it repeatable)."""

    def __init__(self, rotation: float = 0.0, shift: float = 0.0) -> None:
        if rotation < 0 or not 0 <= shift < 1:
            raise ValueError(f"augment needs rotation >= 0 and shift in [0, 1), got {rotation} and {shift}")
        self.rotation, self.shift = rotation, shift

    def __bool__(self) -> bool:
        return bool(self.rotation or self.shift)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"augment works on image batches (N, C, H, W), got shape {list(images.shape)}")
        count, device = images.shape[0], images.device
        angle = (torch.rand(count, device=device) * 2 - 1) * math.radians(self.rotation)
        offset = (torch.rand(count, 2, device=device) * 2 - 1) * 2 * self.shift
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], dim=1),
                             torch.stack([sin, cos, offset[:, 1]], dim=1)], dim=1)
        grid = functional.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        return functional.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
