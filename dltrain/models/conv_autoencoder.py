"""Convolutional autoencoder: convolutions see strokes and textures where an MLP sees unrelated pixels, so images
are rebuilt sharper from a code of the same size."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from dltrain.models.activations import make_activation
from dltrain.models.autoencoder import EncoderDecoder, output_activation

INPUT_KINDS = ("images", "clips")
MODEL_KIND = "autoencoder"


class ConvAutoencoder(EncoderDecoder):
    """Strided 3x3 convolutions (each halving the size) to a `latent_dim` code; the decoder upsamples back to each
    stage's exact size, so images of any size come back at their own size."""

    def __init__(self, in_channels: int = 1, input_size: Sequence[int] = (16, 16), num_classes: int | None = None,
                 channels: Sequence[int] = (32, 64), latent_dim: int = 32, activation: str = "relu",
                 batch_norm: bool = True, output: str = "auto", input_kind: str | None = None) -> None:
        super().__init__()
        if len(input_size) != 2:
            raise ValueError(f"conv_autoencoder reads images (channels x height x width), not inputs of size "
                             f"{list(input_size)}")
        sizes = [tuple(input_size)]
        for _ in channels:
            sizes.append(tuple(-(-side // 2) for side in sizes[-1]))
        encoder: list[nn.Module] = []
        width = in_channels
        for out in channels:
            encoder += [nn.Conv2d(width, out, 3, stride=2, padding=1, bias=not batch_norm),
                        *([nn.BatchNorm2d(out)] if batch_norm else []), make_activation(activation)]
            width = out
        inner = (channels[-1], *sizes[-1])
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(math.prod(inner), latent_dim))
        decoder: list[nn.Module] = [nn.Linear(latent_dim, math.prod(inner)), make_activation(activation),
                                    nn.Unflatten(1, inner)]
        widths = [*reversed(channels[:-1]), in_channels]
        for index, (size, out) in enumerate(zip(reversed(sizes[:-1]), widths, strict=True)):
            last = index == len(widths) - 1
            decoder += [nn.Upsample(size=size, mode="nearest"), nn.Conv2d(width, out, 3, padding=1, bias=last or
                                                                          not batch_norm)]
            if not last:
                decoder += [*([nn.BatchNorm2d(out)] if batch_norm else []), make_activation(activation)]
            width = out
        self.decoder = nn.Sequential(*decoder, output_activation(output, input_kind))
        self.latent_dim = latent_dim
        self.display_name = f"convolutional autoencoder ({'-'.join(map(str, channels))} channels, code {latent_dim})"
