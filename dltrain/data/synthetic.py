"""Gaussian clusters of any shape: data with a known answer for smoke runs, tests and benchmarks."""

from __future__ import annotations

import math

import torch

from dltrain.data.in_memory import InMemoryDataModule


class SyntheticDataModule(InMemoryDataModule):
    """`num_classes` clusters with unit noise per value whose centres lie about `separation` apart.

    Two clusters `separation` apart are told apart with accuracy Phi(separation / 2) at best.
    """

    def __init__(self, num_samples: int = 1000, num_classes: int = 4, shape: list[int] = (32,),
                 separation: float = 4.0, **split_options) -> None:
        super().__init__(**split_options)
        self.num_samples, self.num_classes = num_samples, num_classes
        self.shape, self.separation = list(shape), separation

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        generator = torch.Generator().manual_seed(self.seed)
        size = math.prod(self.shape)
        centres = torch.randn(self.num_classes, size, generator=generator) * self.separation / math.sqrt(2 * size)
        labels = torch.arange(self.num_samples) % self.num_classes
        labels = labels[torch.randperm(self.num_samples, generator=generator)]
        inputs = centres[labels] + torch.randn(self.num_samples, size, generator=generator)
        return inputs.view(self.num_samples, *self.shape), labels, [f"class_{k}" for k in range(self.num_classes)]
