"""Batch augmentation and the image pipeline: what each transform does to pixels, and when it applies."""

from __future__ import annotations

import pytest
import torch

from dltrain.data.augment import ColorJitter, RandomCrop, RandomFlip, build_augment
from dltrain.data.image_pipeline import ImageBatchPipeline
from dltrain.errors import UserError


def ramp(count: int = 64, channels: int = 1, size: int = 8) -> torch.Tensor:
    """Images whose pixel value encodes its column, so shifts and flips are visible."""
    columns = torch.arange(1, size + 1, dtype=torch.float32) / size
    return columns.expand(count, channels, size, size).clone()


def test_random_crop_shifts_by_at_most_the_padding_and_fills_with_zeros():
    torch.manual_seed(0)
    images = ramp()
    cropped = RandomCrop(padding=2)(images)
    assert cropped.shape == images.shape
    shifts = set()
    for result in cropped:
        row = result[0, 4]
        first = int((row > 0).nonzero()[0])
        shift = round(float(row[first]) * 8) - 1 - first
        expected = torch.tensor([(column + shift + 1) / 8 if 0 <= column + shift < 8 else 0.0
                                 for column in range(8)])
        assert torch.allclose(row, expected)
        shifts.add(shift)
    assert shifts == set(range(-2, 3))


def test_flip_mirrors_about_half_of_the_images():
    torch.manual_seed(0)
    images = ramp(count=200)
    flipped = RandomFlip()(images)
    mirrored = torch.all(flipped == images.flip(-1), dim=(1, 2, 3))
    unchanged = torch.all(flipped == images, dim=(1, 2, 3))
    assert torch.all(mirrored ^ unchanged)
    assert 70 < int(mirrored.sum()) < 130


def test_color_jitter_stays_in_range_and_varies_brightness():
    torch.manual_seed(0)
    images = torch.full((50, 3, 4, 4), 0.5)
    images[:, 0] = 0.8
    jittered = ColorJitter(0.4)(images)
    assert float(jittered.min()) >= 0 and float(jittered.max()) <= 1
    assert float(jittered.mean(dim=(1, 2, 3)).std()) > 0.02


def test_pipeline_scales_bytes_resizes_normalizes_and_augments_only_in_training():
    torch.manual_seed(0)
    pipeline = ImageBatchPipeline(image_size=16, augment={"flip": True, "crop_padding": 2},
                                  normalize={"mean": [0.5], "std": [0.25]})
    images = torch.full((8, 1, 8, 8), 255, dtype=torch.uint8)
    evaluated = pipeline(images, training=False)
    assert evaluated.shape == (8, 1, 16, 16) and evaluated.dtype == torch.float32
    assert torch.allclose(evaluated, torch.full_like(evaluated, 2.0))
    trained = pipeline(images, training=True)
    assert float(trained.min()) == pytest.approx(-2.0)


def test_bad_augment_and_normalize_settings_are_user_errors():
    with pytest.raises(ValueError, match="color_jitter in \\[0, 1\\)"):
        build_augment(color_jitter=1.5)
    with pytest.raises(UserError, match="needs a mean and a positive std"):
        ImageBatchPipeline(normalize={"mean": [0.5], "std": [0.0]})
    assert build_augment() == []
