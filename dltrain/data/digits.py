"""scikit-learn's 8x8 handwritten digits: built into the wheel, so it trains anywhere without a download."""

from __future__ import annotations

import torch

from dltrain.data.in_memory import InMemoryDataModule


class DigitsDataModule(InMemoryDataModule):
    """1,797 grayscale 8x8 digits scaled to [0, 1]; `image_size` upsamples them (bilinear) in memory."""

    def __init__(self, image_size: int | None = None, **split_options) -> None:
        super().__init__(**split_options)
        self.image_size = image_size

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        if self.image_size and self.image_size != images.shape[-1]:
            images = torch.nn.functional.interpolate(images, size=(self.image_size, self.image_size),
                                                     mode="bilinear", align_corners=False)
        labels = torch.tensor(digits.target, dtype=torch.int64)
        return images, labels, [str(name) for name in digits.target_names]
