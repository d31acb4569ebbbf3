"""Multilayer perceptron: the baseline every other family should beat."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.activations import make_activation

# What the data gives (its spec's input_kind) that this family reads: inputs of a fixed size, flattened
# (not token ids); an environment's observations make it a Q-network (task=dqn).
INPUT_KINDS = ("images", "rows", "clips", "signals", "observations")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"


def dense_layers(width: int, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False) -> tuple[list[nn.Module], int]:
    """Linear [-> BatchNorm1d] -> activation [-> Dropout] for each of `sizes`, from `width` inputs; and the width
    they end at. The MLP and the autoencoders' dense halves are made of these."""
    layers: list[nn.Module] = []
    for size in sizes:
        layers.append(nn.Linear(width, size, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(make_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return layers, width


class MLP(nn.Module):
    """Flattens its input, then Linear [-> BatchNorm1d] -> activation [-> Dropout] per hidden layer."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (64,),
                 hidden_sizes: Sequence[int] = (256, 128), activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        hidden, width = dense_layers(in_channels * math.prod(input_size), hidden_sizes, activation, dropout, batch_norm)
        self.layers = nn.Sequential(nn.Flatten(), *hidden, nn.Linear(width, num_classes))
        self.display_name = f"MLP ({'-'.join(map(str, hidden_sizes)) or 'no hidden layers'})"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)
