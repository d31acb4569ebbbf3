"""Activation functions by name, so configs can say `activation: tanh`."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def replace_relu(module: nn.Module, activation: str) -> None:
    """Swap every nn.ReLU inside a (torchvision) model for `activation`, in place; relu leaves it as it is."""
    if activation == "relu":
        return
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, make_activation(activation))
        else:
            replace_relu(child, activation)
