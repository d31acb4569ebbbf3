"""Reading images and their masks for dense tasks. A dense model's outputs are tied to pixels, so an image is
resized whole to image_size x image_size (no crop: every pixel keeps a prediction), and predict resizes the
predictions back to each image's own size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dltrain.errors import UserError

IGNORE_INDEX = 255  # pixels no loss or metric counts: Pascal VOC's object borders, areas an augmentation left empty


def decode_scene(path: Path, size: int, channels: int) -> torch.Tensor:
    """uint8 (channels, size, size), the whole image resized."""
    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L").resize((size, size), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


def read_mask(path: Path) -> np.ndarray:
    """The class ids of a mask file: a single-channel PNG of ids, or a palette PNG (Pascal VOC's), whose palette
    indices are the ids. A colour mask is refused: its colours would need a table to become ids."""
    with Image.open(path) as mask:
        if mask.mode not in ("L", "P", "I", "I;16"):
            raise UserError(f"mask {path} is a {mask.mode} image, not one of class ids",
                            "save masks as single-channel PNGs of class ids (0, 1, 2 ...) or palette PNGs")
        return np.asarray(mask).astype(np.int64)


def resize_mask(ids: np.ndarray, size: int) -> torch.Tensor:
    """int64 (size, size), resized by nearest neighbour: a mask must not get ids between two classes."""
    image = Image.fromarray(ids.astype(np.int32)).resize((size, size), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(image).astype(np.int64))


def image_size_of(path: Path) -> tuple[int, int]:
    """(width, height) from the header."""
    with Image.open(path) as image:
        return image.size
