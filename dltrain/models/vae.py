"""Variational autoencoder (Kingma & Welling 2014): the code is a Gaussian the encoder gives the mean and
log-variance of, so that decoding codes drawn from N(0, I) generates new examples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.autoencoder import EncoderDecoder, example_shape, output_activation
from dltrain.models.mlp import dense_layers

INPUT_KINDS = ("images", "rows", "clips", "signals")
# What it gives back: reconstructions, and the distribution of its code (what task=vae needs).
MODEL_KIND = "vae"


class VariationalAutoencoder(EncoderDecoder):
    """MLP encoder to the mean and log-variance of a Gaussian code, decoder from a code. `forward` rebuilds from the
    mean (what eval, predict and export use); the VAE task samples codes with `distribution` and `decode`."""

    def __init__(self, in_channels: int = 1, input_size: Sequence[int] = (64,), num_classes: int | None = None,
                 hidden_sizes: Sequence[int] = (256, 128), latent_dim: int = 8, activation: str = "relu",
                 output: str = "auto", input_kind: str | None = None) -> None:
        super().__init__()
        self.shape = example_shape(in_channels, input_size)
        features = math.prod(self.shape)
        layers, width = dense_layers(features, hidden_sizes, activation, 0.0, False)
        self.encoder = nn.Sequential(nn.Flatten(), *layers)
        self.mean = nn.Linear(width, latent_dim)
        self.log_variance = nn.Linear(width, latent_dim)
        layers, width = dense_layers(latent_dim, list(reversed(hidden_sizes)), activation, 0.0, False)
        self.decoder = nn.Sequential(*layers, nn.Linear(width, features), output_activation(output, input_kind),
                                     nn.Unflatten(1, self.shape))
        self.latent_dim = latent_dim
        self.display_name = f"variational autoencoder ({'-'.join(map(str, hidden_sizes))}, code {latent_dim})"

    def distribution(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(inputs)
        return self.mean(hidden), self.log_variance(hidden)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """The code's mean, without the variance head: a classifier built on this encoder drops that head."""
        return self.mean(self.encoder(inputs))
