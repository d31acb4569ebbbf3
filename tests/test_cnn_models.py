"""The CNN family: each model builds from its shipped config for small and large inputs and trains a step."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from dltrain.assemble import build_model
from dltrain.configs import config_dir
from dltrain.data.synthetic import SyntheticDataModule
from dltrain.models.alexnet import build_alexnet
from dltrain.models.googlenet import build_googlenet
from dltrain.models.vgg import build_vgg
from dltrain.tasks.classification import ClassificationTask

CNNS = ["lenet", "resnet", "vgg", "alexnet", "googlenet"]


def shipped_model(option: str, **overrides) -> dict:
    node = OmegaConf.merge(OmegaConf.load(config_dir() / "model" / f"{option}.yaml"), overrides)
    return OmegaConf.to_container(node)


@pytest.mark.parametrize("option", CNNS)
@pytest.mark.parametrize("shape", [[1, 8, 8], [3, 32, 32]], ids=["gray8", "rgb32"])
def test_every_cnn_trains_on_small_gray_and_rgb_images(option: str, shape: list[int]):
    pl.seed_everything(0, verbose=False)
    data = SyntheticDataModule(num_samples=60, num_classes=3, shape=shape, batch_size=8)
    model = build_model(shipped_model(option), data.spec)
    task = ClassificationTask(model, 3, optimizer={"_target_": "torch.optim.SGD", "lr": 0.01})
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(task, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_googlenet_auxiliary_losses_are_added_while_training():
    pl.seed_everything(0, verbose=False)
    data = SyntheticDataModule(num_samples=40, num_classes=3, shape=[1, 8, 8], batch_size=8)
    model = build_googlenet(3, 1, [8, 8], aux_logits=True)
    task = ClassificationTask(model, 3, optimizer={"_target_": "torch.optim.SGD", "lr": 0.01})
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(task, datamodule=data)
    assert trainer.callback_metrics["train/aux"] > 0
    model.eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_small_variants_keep_only_the_pools_the_input_affords():
    vgg = build_vgg(10, 1, [8, 8], depth=11, batch_norm=False)
    assert sum(isinstance(layer, torch.nn.MaxPool2d) for layer in vgg.features) == 3
    assert sum(isinstance(layer, torch.nn.MaxPool2d) for layer in build_vgg(10, 3, [32, 32]).features) == 5
    alexnet = build_alexnet(10, 1, [8, 8])
    assert alexnet.features[0].kernel_size == (3, 3)
    assert sum(isinstance(layer, torch.nn.MaxPool2d) for layer in alexnet.features) == 2  # 8 -> 3 -> 1


def test_imagenet_variants_are_torchvisions_networks():
    import torchvision

    def count(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    assert count(build_vgg(1000, 3, [224, 224], depth=16)) == count(torchvision.models.vgg16_bn())
    assert count(build_alexnet(1000, 3, [224, 224])) == count(torchvision.models.alexnet())
    assert count(build_googlenet(1000, 3, [224, 224])) == count(torchvision.models.GoogLeNet(aux_logits=False,
                                                                                           init_weights=True))


def test_vgg_activation_and_errors():
    model = build_vgg(4, 3, [32, 32], depth=11, activation="leaky_relu")
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    with pytest.raises(ValueError, match="depths 11, 13, 16, 19"):
        build_vgg(4, 3, [32, 32], depth=12)
    with pytest.raises(ValueError, match="needs images"):
        build_alexnet(4, 1, [10])
