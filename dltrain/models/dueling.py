"""Dueling heads (Wang et al. 2016) for Q-networks: the value of a state and the advantage of each action are
estimated apart and combined, Q = V + A - mean(A), so that states where the action matters little are learned
from every action taken in them."""

from __future__ import annotations

import torch
from torch import nn


class DuelingHead(nn.Module):
    """Takes the place of a Q-network's last Linear layer; its output is Q-values, as the layer's was."""

    def __init__(self, in_features: int, actions: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_features, 1)
        self.advantage = nn.Linear(in_features, actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


def with_dueling_head(model: nn.Module) -> nn.Module:
    """`model` with its last Linear layer (the one that gives one value per action) replaced by a DuelingHead."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name, module
    if last is None:
        raise ValueError(f"{type(model).__name__} has no Linear output layer to split into dueling heads")
    name, layer = last
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, DuelingHead(layer.in_features, layer.out_features))
    if hasattr(model, "display_name"):
        model.display_name += ", dueling heads"
    return model
