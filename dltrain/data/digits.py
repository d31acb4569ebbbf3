"""scikit-learn's 8x8 handwritten digits: built into the wheel, so it trains anywhere without a download."""

from __future__ import annotations

import torch

from dltrain.data.images import ImageDataModule


class DigitsDataModule(ImageDataModule):
    """1,797 grayscale 8x8 digits scaled to [0, 1], split by `val_fraction`/`test_fraction`."""

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.int64)
        return images, labels, [str(name) for name in digits.target_names]
