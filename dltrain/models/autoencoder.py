"""Autoencoders: an encoder squeezes the input into a small code, a decoder rebuilds the input from it. Deep
(Hinton & Salakhutdinov 2006), as an MLP; the convolutional one is in conv_autoencoder.py, the variational one
in vae.py.

Each is sized from the data like every other model (`in_channels`, `input_size`) and gives `encode` (the code, what
`predict` writes as embeddings and `transfer` takes as a backbone) beside `forward` (the reconstruction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.activations import make_activation
from dltrain.models.mlp import dense_layers

# What the data gives that this family reads, and what it gives back: reconstructions of its inputs.
INPUT_KINDS = ("images", "rows", "clips", "signals")
MODEL_KIND = "autoencoder"


def output_activation(choice: str, input_kind: str | None) -> nn.Module:
    """`auto`: images in [0, 1] come back through a sigmoid, standardized rows and clips unbounded."""
    if choice == "auto":
        choice = "sigmoid" if input_kind == "images" else "identity"
    return nn.Identity() if choice == "identity" else make_activation(choice)


def example_shape(in_channels: int, input_size: Sequence[int]) -> tuple[int, ...]:
    """The shape of one example as the data holds it: rows are (features,), images and clips (channels, ...)."""
    return (input_size[0],) if len(input_size) == 1 and in_channels == 1 else (in_channels, *input_size)


class EncoderDecoder(nn.Module):
    """What every autoencoder answers: `encode` (inputs -> codes), `decode` (codes -> inputs) and `forward`, the two
    in turn. Subclasses build `encoder` and `decoder`."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(codes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(inputs))


class Autoencoder(EncoderDecoder):
    """MLP encoder (flatten, `hidden_sizes`) to a `latent_dim` code, and the mirror-image decoder back to the
    input's shape."""

    def __init__(self, in_channels: int = 1, input_size: Sequence[int] = (64,), num_classes: int | None = None,
                 hidden_sizes: Sequence[int] = (256, 64), latent_dim: int = 16, activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, output: str = "auto",
                 input_kind: str | None = None) -> None:
        super().__init__()
        self.shape = example_shape(in_channels, input_size)
        features = math.prod(self.shape)
        layers, width = dense_layers(features, hidden_sizes, activation, dropout, batch_norm)
        self.encoder = nn.Sequential(nn.Flatten(), *layers, nn.Linear(width, latent_dim))
        layers, width = dense_layers(latent_dim, list(reversed(hidden_sizes)), activation, dropout, batch_norm)
        self.decoder = nn.Sequential(*layers, nn.Linear(width, features), output_activation(output, input_kind),
                                     nn.Unflatten(1, self.shape))
        self.latent_dim = latent_dim
        self.display_name = f"autoencoder ({'-'.join(map(str, [*hidden_sizes, latent_dim]))})"
