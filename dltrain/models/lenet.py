"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998), the first convolutional network in wide use."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from dltrain.models.activations import make_activation
from dltrain.models.images import require_images

# What the data gives (its spec's input_kind) that this family reads: images, and clips as spectrograms.
INPUT_KINDS = ("images", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"

POOLING = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    """C1 6@5x5 - S2 - C3 16@5x5 - S4 - F5 120 - F6 84 - output, on `image_size` x `image_size` inputs.

    The paper's network reads 32x32 images; inputs of another size are resized (bilinear) inside the model,
    so 8x8 digits and 28x28 MNIST both work and the resize travels with an exported model.
    `image_size=None` keeps the data's size, which must then be at least 16x16.
    """

    display_name = "LeNet-5"

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (32, 32),
                 activation: str = "relu", pooling: str = "max", dropout: float = 0.0,
                 image_size: int | None = 32) -> None:
        super().__init__()
        require_images("LeNet-5", input_size)
        if pooling not in POOLING:
            raise ValueError(f"unknown pooling '{pooling}'; choose one of: {', '.join(POOLING)}")
        self.image_size = (image_size, image_size) if image_size else tuple(input_size)
        if min(self.image_size) < 16:
            raise ValueError(f"LeNet-5 needs inputs of at least 16x16, got {list(self.image_size)}: "
                             "set model.image_size=32")
        pool = POOLING[pooling]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), make_activation(activation), pool(2),
            nn.Conv2d(6, 16, kernel_size=5), make_activation(activation), pool(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            width = self.features(torch.zeros(1, in_channels, *self.image_size)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(width, 120), make_activation(activation), nn.Dropout(dropout),
            nn.Linear(120, 84), make_activation(activation), nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.image_size:
            images = functional.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        return self.classifier(self.features(images))
