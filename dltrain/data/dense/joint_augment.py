"""Augmentation that moves the targets with the images: one random geometric transform per image, applied to the
image (bilinear) and to its mask (nearest neighbour, so no ids between classes appear) or its boxes.

Like dltrain/data/augment.py it works on whole batches on the device they sit on and draws from torch's global
generator, so `seed` makes runs repeatable.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from dltrain.data.augment import ColorJitter
from dltrain.data.dense.scenes import IGNORE_INDEX


class JointAugment:
    """Flip left-right (probability 0.5), zoom by a factor in [1 - scale, 1 + scale] around a random point (the crop),
    rotate by up to `rotation` degrees; then jitter colours of the image alone. Pixels brought in from outside the
    image are black in the image and IGNORE_INDEX in the mask: no loss is taken on them."""

    KEYS = ("flip", "scale", "rotation", "color_jitter")

    def __init__(self, flip: bool = True, scale: float = 0.0, rotation: float = 0.0, color_jitter: float = 0.0) -> None:
        if not 0 <= scale < 1 or rotation < 0 or not 0 <= color_jitter < 1:
            raise ValueError("data.augment needs scale in [0, 1), rotation >= 0 and color_jitter in [0, 1); got "
                             f"{scale}, {rotation} and {color_jitter}")
        self.flip, self.scale, self.rotation = flip, scale, rotation
        self.jitter = ColorJitter(color_jitter) if color_jitter else None

    def transforms(self, count: int, device: torch.device) -> torch.Tensor:
        """(count, 2, 3) affine matrices from output to input coordinates in [-1, 1], as affine_grid takes them."""
        zoom = 1 + (torch.rand(count, device=device) * 2 - 1) * self.scale
        angle = (torch.rand(count, device=device) * 2 - 1) * math.radians(self.rotation)
        mirror = torch.where(torch.rand(count, device=device) < 0.5, -1.0, 1.0) if self.flip else torch.ones(
            count, device=device)
        # Zooming in (zoom > 1) shows a window of 1/zoom of the image, anywhere it fits; zooming out keeps it centred.
        room = (1 - 1 / zoom).clamp(min=0)
        offset = (torch.rand(count, 2, device=device) * 2 - 1) * room[:, None]
        cos, sin = angle.cos() / zoom, angle.sin() / zoom
        return torch.stack([torch.stack([cos * mirror, -sin, offset[:, 0]], dim=1),
                            torch.stack([sin * mirror, cos, offset[:, 1]], dim=1)], dim=1)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (N, C, H, W) in [0, 1] and int64 masks (N, H, W)."""
        if self.flip or self.scale or self.rotation:
            theta = self.transforms(images.shape[0], images.device).to(images.dtype)
            grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
            images = functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            # Ids shifted by one so that 0 marks what came from outside the image.
            shifted = functional.grid_sample((masks + 1).unsqueeze(1).to(images.dtype), grid, mode="nearest",
                                             padding_mode="zeros", align_corners=False).squeeze(1).round().long()
            masks = torch.where(shifted == 0, IGNORE_INDEX, shifted - 1)
        if self.jitter is not None:
            images = self.jitter(images)
        return images, masks

    def with_boxes(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]
                   ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Float images (N, C, H, W) and their targets' `boxes` (x1, y1, x2, y2 in pixels), flipped and zoomed together
        (no rotation: a rotated box no longer fits its object). A box pushed mostly out of the picture (less than
        KEPT_AREA of it left) is dropped with its label; the others are clipped to the picture."""
        if self.flip or self.scale:
            theta = self.transforms(images.shape[0], images.device).to(images.dtype)
            grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
            images = functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            height, width = images.shape[-2:]
            targets = [_moved(target, transform, width, height)
                       for target, transform in zip(targets, theta, strict=True)]
        if self.jitter is not None:
            images = self.jitter(images)
        return images, targets


# A box keeps its place in an augmented image while at least this share of its area is still in the picture.
KEPT_AREA = 0.4


def _moved(target: dict[str, torch.Tensor], theta: torch.Tensor, width: int, height: int) -> dict[str, torch.Tensor]:
    """The boxes of one image under the affine map `theta` (output -> input coordinates in [-1, 1], no rotation)."""
    boxes = target["boxes"]
    if not len(boxes):
        return target
    size = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    normalised = boxes / size * 2 - 1
    scale = torch.stack([theta[0, 0], theta[1, 1]]).repeat(2).to(boxes.dtype)
    offset = theta[:, 2].repeat(2).to(boxes.dtype)
    moved = ((normalised - offset) / scale + 1) / 2 * size
    corners = torch.cat([torch.minimum(moved[:, :2], moved[:, 2:]), torch.maximum(moved[:, :2], moved[:, 2:])], dim=1)
    clipped = corners.clamp(min=torch.zeros_like(size)).minimum(size)
    area = (corners[:, 2:] - corners[:, :2]).prod(dim=1)
    kept = (clipped[:, 2:] - clipped[:, :2]).prod(dim=1) >= KEPT_AREA * area
    return {**target, "boxes": clipped[kept], "labels": target["labels"][kept]}
