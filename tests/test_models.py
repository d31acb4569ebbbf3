"""Models size themselves from the data spec and reject data they cannot read."""

from __future__ import annotations

import pytest
import torch

from dltrain.models.activations import ACTIVATIONS, make_activation
from dltrain.models.lenet import LeNet5
from dltrain.models.mlp import MLP


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_any_activation_and_options(activation: str):
    model = MLP(num_classes=3, in_channels=1, input_size=[5], hidden_sizes=[8, 4], activation=activation,
                dropout=0.1, batch_norm=True)
    assert model(torch.randn(6, 5)).shape == (6, 3)
    assert any(isinstance(layer, torch.nn.BatchNorm1d) for layer in model.layers)
    assert any(isinstance(layer, torch.nn.Dropout) for layer in model.layers)


def test_mlp_flattens_images():
    assert MLP(num_classes=10, in_channels=3, input_size=[8, 8])(torch.randn(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 32), (1, 28)])
def test_lenet_reads_small_and_classic_sizes(channels: int, size: int):
    model = LeNet5(num_classes=10, in_channels=channels, input_size=[size, size])
    assert model(torch.randn(2, channels, size, size)).shape == (2, 10)


def test_lenet_classic_parameter_count():
    """LeNet-5 with 32x32 inputs and 10 classes has 61,706 parameters (the paper's F6/output layers)."""
    model = LeNet5(num_classes=10, activation="tanh", pooling="avg")
    assert sum(p.numel() for p in model.parameters()) == 61706


def test_lenet_keeps_native_size_when_asked():
    model = LeNet5(num_classes=4, in_channels=1, input_size=[20, 20], image_size=None)
    assert model(torch.randn(1, 1, 20, 20)).shape == (1, 4)
    with pytest.raises(ValueError, match="at least 16x16"):
        LeNet5(num_classes=4, input_size=[8, 8], image_size=None)


def test_lenet_rejects_feature_vectors():
    with pytest.raises(ValueError, match="needs images"):
        LeNet5(num_classes=3, in_channels=1, input_size=[4])


def test_unknown_names():
    with pytest.raises(ValueError, match="choose one of"):
        make_activation("swishy")
    with pytest.raises(ValueError, match="unknown pooling"):
        LeNet5(num_classes=3, pooling="median")
