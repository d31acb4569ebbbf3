"""An autoencoder's encoder with a linear classifier on its code: what `dltrain transfer` makes of an autoencoder
run (unsupervised pre-training: the encoder learned from every image, the head needs few labels), and the same
network trained from scratch with `model=encoder_classifier`, to compare."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

INPUT_KINDS = ("images", "rows", "clips", "signals")
MODEL_KIND = "classifier"
# The autoencoder families whose encoders can be used.
ENCODING_KINDS = ("autoencoder", "vae")


class EncoderClassifier(nn.Module):
    """`autoencoder_target` (a dltrain autoencoder class) built with `autoencoder` options for the data's size, its
    decoder dropped; `head` maps the code to class scores. The autoencoder's weights keep their names under
    `autoencoder.`, so that a trained autoencoder's load by name."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (64,),
                 autoencoder_target: str = "dltrain.models.autoencoder.Autoencoder",
                 autoencoder: dict[str, Any] | None = None, dropout: float = 0.0,
                 input_kind: str | None = None) -> None:
        super().__init__()
        from dltrain.targets import locate

        family = locate(autoencoder_target)
        kind = getattr(sys.modules[family.__module__], "MODEL_KIND", None)
        if not (isinstance(family, type) and issubclass(family, nn.Module) and kind in ENCODING_KINDS
                and family.__module__.startswith("dltrain.")):
            raise ValueError(f"autoencoder_target={autoencoder_target} is not one of dltrain's autoencoders "
                             "(model=autoencoder, conv_autoencoder or vae)")
        self.autoencoder = family(in_channels=in_channels, input_size=input_size, input_kind=input_kind,
                                  **(autoencoder or {}))
        self.autoencoder.decoder = None
        if hasattr(self.autoencoder, "log_variance"):  # a VAE's code is its mean
            self.autoencoder.log_variance = None
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.autoencoder.latent_dim, num_classes))
        self.display_name = f"{self.autoencoder.display_name}'s encoder + linear classifier"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.autoencoder.encode(inputs))
