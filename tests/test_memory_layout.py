"""Channels-last layout (trainer.channels_last): every shipped 2-D convolution network computes the same in it, and
keeps it through training."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from dltrain.assemble import build_model
from dltrain.memory_layout import apply_layout, wants_channels_last
from tests.conftest import assert_user_error, run_in_process

CONF = Path(__file__).parents[1] / "conf" / "model"
IMAGES = {"lenet": (1, 16), "alexnet": (3, 32), "vgg": (3, 32), "googlenet": (3, 32), "resnet": (3, 32),
          "unet": (3, 32), "fcn": (3, 32), "deeplabv3": (3, 32), "conv_autoencoder": (1, 16)}


def _model(name: str, seed: int = 0) -> torch.nn.Module:
    channels, size = IMAGES[name]
    config = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    torch.manual_seed(seed)
    return build_model(config, {"in_channels": channels, "input_size": [size, size], "num_classes": 3,
                                "input_kind": "images"})


def _output(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    output = model(images)
    return output["out"] if isinstance(output, dict) else output


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_a_convolution_network_learns_the_same_in_channels_last(name: str):
    channels, size = IMAGES[name]
    images = torch.rand(4, channels, size, size, generator=torch.Generator().manual_seed(1))
    default, channels_last = _model(name).eval(), _model(name).eval()
    assert apply_layout(True, channels_last, None)
    assert wants_channels_last("auto", default, yaml.safe_load((CONF / f"{name}.yaml").read_text())["_target_"])
    with torch.no_grad():  # float32: the kernels a training runs
        torch.testing.assert_close(_output(channels_last, images), _output(default, images), atol=1e-4, rtol=1e-3)
    # A training step in float64: in float32 the layouts' different summation orders differ in the last bits, which
    # batch norm over a few pixels amplifies to percents of a gradient (seen on FCN); float64 shows the same maths.
    for model in (default, channels_last):
        model.double().train()
        for layer in model.modules():
            if isinstance(layer, torch.nn.modules.dropout._DropoutNd):
                layer.p = 0.0  # dropout draws its mask in memory order: the same seed masks other elements
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        _output(model, images.double()).square().mean().backward()
        optimizer.step()
        model.eval()
    kernels = [parameter for parameter in channels_last.parameters() if parameter.dim() == 4]
    assert kernels and all(kernel.is_contiguous(memory_format=torch.channels_last) for kernel in kernels)
    with torch.no_grad():
        torch.testing.assert_close(_output(channels_last, images.double()), _output(default, images.double()))
    torch.testing.assert_close(channels_last.state_dict(), default.state_dict())


def test_auto_means_dltrains_networks_with_image_convolutions():
    mlp = build_model(yaml.safe_load((CONF / "mlp.yaml").read_text()),
                      {"in_channels": 1, "input_size": [8], "num_classes": 3, "input_kind": "rows"})
    generator = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 3, 4))
    assert not wants_channels_last("auto", mlp, "dltrain.models.mlp.MLP")
    assert wants_channels_last("auto", generator, "dltrain.models.dcgan.DCGAN")
    assert not wants_channels_last("auto", generator, "mypackage.Generator")  # its code may .view() a feature map
    assert wants_channels_last(True, mlp, "dltrain.models.mlp.MLP")
    assert not wants_channels_last(False, generator, "dltrain.models.dcgan.DCGAN")


def test_a_model_of_your_own_trains_in_the_default_layout_unless_asked(tmp_path: Path):
    """A tutorial-style model flattens with .view(): `auto` leaves it alone; forced channels-last, its first step
    fails as one line with the fix, not a traceback."""
    own = ["model._target_=tests.own_model.TutorialNet", "debug=smoke"]
    result = run_in_process("train", *own, "hydra.run.dir=auto", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"device\s+cpu, \d+ threads?; precision 32-true\n", result.stdout)
    assert_user_error(run_in_process("train", *own, "trainer.channels_last=true", "hydra.run.dir=forced", cwd=tmp_path),
                      "the model flattens a feature map with .view()", "use .reshape() there",
                      "trainer.channels_last=false")
