"""ResNets: the right variant for the input size, the paper's sizes, any channels and activation."""

from __future__ import annotations

import pytest
import torch
import torchvision

from dltrain.models.resnet import CifarResNet, build_resnet


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("depth", "millions"), [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_cifar_resnets_have_the_papers_sizes(depth: int, millions: float):
    """He et al. 2016, table 6: 0.27M, 0.46M, 0.66M, 0.85M and 1.7M (our projection shortcuts add 2,752)."""
    assert _parameters(CifarResNet(10, 3, depth)) / 1e6 == pytest.approx(millions, rel=0.02)


def test_auto_variant_follows_depth_and_input_size():
    assert isinstance(build_resnet(10, 1, [8, 8], depth=20), CifarResNet)
    small = build_resnet(10, 1, [32, 32], depth=18)
    assert small.conv1.kernel_size == (3, 3) and isinstance(small.maxpool, torch.nn.Identity)
    large = build_resnet(10, 3, [96, 96], depth=18)
    assert large.conv1.kernel_size == (7, 7) and isinstance(large.maxpool, torch.nn.MaxPool2d)
    assert _parameters(large) == _parameters(torchvision.models.resnet18(num_classes=10))


@pytest.mark.parametrize(("channels", "size", "depth"), [(1, 8, 20), (3, 32, 56), (1, 8, 18), (1, 64, 34)])
def test_outputs_for_small_and_large_inputs(channels: int, size: int, depth: int):
    model = build_resnet(7, channels, [size, size], depth=depth)
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_activation_and_dropout():
    model = build_resnet(5, 3, [32, 32], depth=18, activation="gelu", dropout=0.3)
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())
    assert isinstance(model.fc[0], torch.nn.Dropout)
    cifar = build_resnet(5, 3, [32, 32], depth=20, activation="tanh")
    assert any(isinstance(m, torch.nn.Tanh) for m in cifar.modules())


@pytest.mark.parametrize(("options", "message"), [
    ({"depth": 18, "variant": "cifar"}, "depths 20, 32"),
    ({"depth": 20, "variant": "imagenet"}, "depths 18, 34"),
    ({"depth": 18, "variant": "tiny"}, "unknown ResNet variant"),
])
def test_bad_depth_or_variant(options: dict, message: str):
    with pytest.raises(ValueError, match=message):
        build_resnet(10, 3, [32, 32], **options)


def test_resnet_needs_images():
    with pytest.raises(ValueError, match="needs images"):
        build_resnet(3, 1, [4])
