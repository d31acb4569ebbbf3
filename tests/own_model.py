"""Models of a user's own, written as tutorials write them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TutorialNet(nn.Module):
    """Flattens its feature map with `.view()`."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (16, 16),
                 **unused) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.fc = nn.Linear(8 * (input_size[0] // 2) * (input_size[1] // 2), num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.max_pool2d(torch.relu(self.conv(images)), 2)
        return self.fc(features.view(features.size(0), -1))


class StrictNet(nn.Module):
    """Takes the data's sizes and nothing else."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (16, 16)) -> None:
        super().__init__()
        self.layer = nn.Linear(in_channels * input_size[0] * input_size[1], num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layer(images.flatten(1))
