"""U-Net (Ronneberger, Fischer and Brox, 2015): an encoder that halves the resolution `depth` times, a decoder that
doubles it back, and skip connections that hand each decoder stage the encoder's features of the same size, so the
per-pixel classes come out as sharp as the input."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from dltrain.models.activations import make_activation
from dltrain.models.images import require_images

INPUT_KINDS = ("images",)
# What it gives back: class scores for every pixel (N, classes, H, W); see the tasks' model_kinds.
MODEL_KIND = "segmenter"


def _double_convolution(in_channels: int, out_channels: int, activation: str, batch_norm: bool,
                        dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for channels_in in (in_channels, out_channels):
        layers += [nn.Conv2d(channels_in, out_channels, 3, padding=1, bias=not batch_norm),
                   *([nn.BatchNorm2d(out_channels)] if batch_norm else []), make_activation(activation)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """`depth` down/up stages; the first stage has `width` channels and each deeper one twice as many. Padded 3x3
    convolutions keep sizes (the paper's unpadded ones crop), and a decoder stage whose upsampled features miss the
    skip's size by a pixel (odd sizes) is resized to it, so any input size works.

    `encoder` and `bottleneck` are the backbone, `head` the 1x1 convolution to class scores (what transfer replaces).
    """

    display_name = "U-Net"
    head_modules = ["head"]
    backbone_modules = ["encoder", "bottleneck"]

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (64, 64), depth: int = 4,
                 width: int = 32, activation: str = "relu", batch_norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        require_images("U-Net", input_size)
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be at least 1, got depth={depth} width={width}")
        if min(input_size) < 2**depth:
            raise ValueError(f"{input_size[0]}x{input_size[1]} images are too small for depth {depth} (it halves "
                             f"them {depth} times): pass model.depth={max(1, min(input_size).bit_length() - 2)}")
        channels = [width * 2**level for level in range(depth + 1)]
        self.encoder = nn.ModuleList()
        previous = in_channels
        for level in range(depth):
            self.encoder.append(_double_convolution(previous, channels[level], activation, batch_norm, 0.0))
            previous = channels[level]
        self.bottleneck = _double_convolution(channels[depth - 1], channels[depth], activation, batch_norm, dropout)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(channels[level + 1], channels[level], 2, stride=2)
                                      for level in reversed(range(depth)))
        self.decoder = nn.ModuleList(_double_convolution(2 * channels[level], channels[level], activation, batch_norm,
                                                         0.0) for level in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = []
        features = images
        for stage in self.encoder:
            features = stage(features)
            skips.append(features)
            features = functional.max_pool2d(features, 2)
        features = self.bottleneck(features)
        for upsample, stage, skip in zip(self.upsample, self.decoder, reversed(skips), strict=True):
            features = upsample(features)
            if features.shape[-2:] != skip.shape[-2:]:
                features = functional.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            features = stage(torch.cat([skip, features], dim=1))
        return self.head(features)
