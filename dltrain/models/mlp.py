"""Multilayer perceptron: the baseline every other family should beat."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.activations import make_activation

# What the data gives (its spec's input_kind) that this family reads: inputs of a fixed size, flattened
# (not token ids).
INPUT_KINDS = ("images", "rows", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"


class MLP(nn.Module):
    """Flattens its input, then Linear [-> BatchNorm1d] -> activation [-> Dropout] per hidden layer."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (64,),
                 hidden_sizes: Sequence[int] = (256, 128), activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * math.prod(input_size)
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.display_name = f"MLP ({'-'.join(map(str, hidden_sizes)) or 'no hidden layers'})"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)
