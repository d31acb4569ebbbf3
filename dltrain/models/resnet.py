"""Residual networks (He, Zhang, Ren and Sun, 2016): the ImageNet ResNets and the paper's CIFAR ResNets.

Depths 18/34/50/101/152 are torchvision's ResNets (so torchvision's pretrained weights fit them), with the
stem adapted to the data; depths 20/32/44/56/110 are the paper's 6n+2 networks for 32x32 images (section 4.2),
which torchvision does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.activations import make_activation, replace_relu
from dltrain.models.images import require_images

# What the data gives (its spec's input_kind) that this family reads: images, and clips as spectrograms.
INPUT_KINDS = ("images", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"

IMAGENET_DEPTHS = (18, 34, 50, 101, 152)
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
VARIANTS = ("auto", "imagenet", "small", "cifar")


def build_resnet(num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (224, 224), depth: int = 20,
                 variant: str = "auto", activation: str = "relu", dropout: float = 0.0) -> nn.Module:
    """A ResNet for the data's channels, size and classes.

    variant: `imagenet` keeps torchvision's stem (7x7 stride-2 conv and max pool, for inputs of 64 pixels and
    more); `small` swaps it for a 3x3 stride-1 conv without pooling (8x8 to 63x63 inputs); `cifar` is the
    paper's 6n+2 network; `auto` picks `cifar` for its depths, else `imagenet` or `small` by input size.
    """
    require_images("ResNet", input_size)
    variant = _choose_variant(depth, variant, input_size)
    if variant == "cifar":
        return CifarResNet(num_classes, in_channels, depth, activation, dropout)
    model = _torchvision_resnet(num_classes, in_channels, depth, small=variant == "small", activation=activation,
                                dropout=dropout)
    model.display_name = f"ResNet-{depth}" + (" (3x3 stem for small images)" if variant == "small" else "")
    return model


def _choose_variant(depth: int, variant: str, input_size: Sequence[int]) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown ResNet variant '{variant}'; choose one of: {', '.join(VARIANTS)}")
    if variant == "auto":
        if depth in CIFAR_DEPTHS:
            return "cifar"
        variant = "imagenet" if min(input_size) >= 64 else "small"
    valid = CIFAR_DEPTHS if variant == "cifar" else IMAGENET_DEPTHS
    if depth not in valid:
        raise ValueError(f"ResNet variant '{variant}' comes in depths {', '.join(map(str, valid))}, not {depth}")
    return variant


def _torchvision_resnet(num_classes: int, in_channels: int, depth: int, small: bool, activation: str,
                        dropout: float) -> nn.Module:
    import torchvision

    model = getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=num_classes)
    if small:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    if dropout > 0:
        model.fc = nn.Sequential(nn.Dropout(dropout), model.fc)
    replace_relu(model, activation)
    return model


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity shortcut (a 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int, activation: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels),
            make_activation(activation),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        self.shortcut = nn.Identity() if stride == 1 and in_channels == channels else nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels))
        self.activation = make_activation(activation)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(inputs) + self.shortcut(inputs))


class CifarResNet(nn.Module):
    """The paper's CIFAR network: a 3x3 conv, three stages of n blocks at 16, 32 and 64 channels (each later
    stage halving the size), global average pooling and a linear layer; depth = 6n + 2.

    Where a stage changes shape the shortcut is a 1x1 projection (the paper's option B) rather than zero
    padding (option A): 2,752 more parameters, and a network that exports to any runtime without custom ops.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, depth: int = 20, activation: str = "relu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if depth not in CIFAR_DEPTHS:
            raise ValueError(f"CIFAR ResNets come in depths {', '.join(map(str, CIFAR_DEPTHS))}, not {depth}")
        blocks_per_stage = (depth - 2) // 6
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                                   make_activation(activation)]
        width = 16
        for stage, channels in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(width, channels, stride, activation))
                width = channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))
        self.display_name = f"ResNet-{depth}"
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))
