"""dltrain transfer: weights loaded by name and shape, the head rebuilt, freezing, input adaptation, and the
point of it all: a frozen backbone from digits 0-4 beats training from scratch on 100 examples of 5-9."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from dltrain.errors import UserError
from dltrain.models.googlenet import build_googlenet
from dltrain.models.lenet import LeNet5
from dltrain.models.mlp import MLP
from dltrain.models.resnet import build_resnet
from dltrain.optim import build_optimizer, parameter_groups
from dltrain.transfer import (
    batch_norms,
    blocks,
    frozen_blocks,
    frozen_parameters,
    head_names,
    input_adaptation,
    load_backbone,
)
from tests.conftest import assert_user_error, run_in_process

NEW_DIGITS = "data.classes=[5,6,7,8,9]"
# Both runs of the comparison see the same 100 examples without augmentation: what differs is only where
# the network's convolutions come from.
FEW_LABELS = [NEW_DIGITS, "data.max_per_class=20", "data.augment.rotation=0", "data.augment.shift=0"]


def test_head_is_the_last_linear_layer_and_those_of_auxiliary_classifiers():
    assert head_names(LeNet5(5, 1, (16, 16))) == ["classifier.6"]
    assert head_names(build_resnet(5, 3, (32, 32), depth=18, dropout=0.2)) == ["fc.1"]
    assert head_names(build_googlenet(5, 3, (32, 32), aux_logits=True)) == ["fc", "aux1.fc2", "aux2.fc2"]
    assert head_names(LeNet5(5, 1, (16, 16)), "classifier") == ["classifier"]
    with pytest.raises(UserError, match="has no module 'clasifier'.*features.0, features.3"):
        head_names(LeNet5(5, 1, (16, 16)), ["clasifier"])


def test_torchvision_weights_load_by_name_with_every_difference_reported():
    torch.manual_seed(0)
    published = build_resnet(1000, 3, (224, 224), depth=18).state_dict()
    model = build_resnet(5, 3, (32, 32), depth=18)  # the small variant: a 3x3 first convolution
    heads = head_names(model)
    report = load_backbone(model, published, heads)
    assert report.mismatched == [("conv1.weight", [64, 3, 7, 7], [64, 3, 3, 3])]
    assert report.replaced == ["fc.weight", "fc.bias"] and report.skipped == []
    assert set(report.new) == {"conv1.weight", "fc.weight", "fc.bias"}
    assert len(report.loaded) == len(published) - 3
    assert torch.equal(model.state_dict()["layer3.1.conv2.weight"], published["layer3.1.conv2.weight"])
    assert torch.equal(model.state_dict()["bn1.running_var"], published["bn1.running_var"])
    rows = dict(report.rows(model, heads))
    assert rows["new: conv1.weight"] == "shape 64x3x7x7 in the source, 64x3x3x3 here"
    assert rows["new (head: fc)"] == "2 tensors, 2,565 values"


def test_weights_of_another_architecture_are_refused():
    with pytest.raises(UserError, match="none of the source's .* weights fit LeNet5"):
        load_backbone(LeNet5(5, 1, (16, 16)), MLP(5).state_dict(), ["classifier.6"])


def test_freeze_counts_blocks_and_new_layers_always_train():
    model = build_resnet(5, 3, (32, 32), depth=18)
    heads = head_names(model)
    report = load_backbone(model, build_resnet(1000, 3, (224, 224), depth=18).state_dict(), heads)
    assert frozen_blocks(model, 2, heads) == ["conv1", "bn1"]
    assert frozen_blocks(model, "none", heads) == []
    backbone = frozen_blocks(model, "backbone", heads)
    assert backbone == [name for name, _ in blocks(model)][:-1]
    frozen = frozen_parameters(model, backbone, report)
    assert "conv1.weight" not in frozen and "fc.weight" not in frozen and "layer4.1.bn2.bias" in frozen
    assert len(batch_norms(model, backbone, report)) == 20
    with pytest.raises(UserError, match="freeze=11, but ResNet has 10 blocks before its head"):
        frozen_blocks(model, 11, heads)
    with pytest.raises(UserError, match="freeze='all' is not a choice"):
        frozen_blocks(model, "all", heads)


def test_loaded_layers_learn_at_the_scaled_rate():
    model = LeNet5(5, 1, (16, 16))
    scales = {name: 0.1 for name, _ in model.named_parameters() if not name.startswith("classifier.6.")}
    optimizer = build_optimizer({"_target_": "torch.optim.SGD", "lr": 0.5}, parameter_groups(model, scales))
    rates = [(group["lr"], len(group["params"])) for group in optimizer.param_groups]
    assert rates == [(0.5, 2), (pytest.approx(0.05), 8)]
    assert build_optimizer({"_target_": "torch.optim.SGD", "lr": 0.5},
                           parameter_groups(model, {})).param_groups[0]["lr"] == 0.5


def test_images_are_adapted_to_the_source_channels_and_size():
    digits = {"_target_": "dltrain.data.digits.DigitsDataModule", "image_size": 16, "channels": None}
    changes, line = input_adaptation({"in_channels": 3, "input_size": [32, 32]}, 1, [16, 16], digits)
    assert changes == {"channels": 3, "image_size": 32}
    assert line == "inputs adapted to the source model: grayscale to RGB, resized from 16x16 to 32x32"
    assert input_adaptation({"in_channels": 3, "input_size": None}, 3, [16, 16], digits) == ({}, "")
    with pytest.raises(UserError, match="has no channels setting"):
        input_adaptation({"in_channels": 3, "input_size": None}, 1, [8, 8],
                         {"_target_": "dltrain.data.synthetic.SyntheticDataModule"})


def test_frozen_batch_norm_keeps_the_source_statistics_until_unfrozen():
    import pytorch_lightning as pl

    from dltrain.finetuning import FrozenBackbone
    from dltrain.tasks.classification import ClassificationTask

    torch.manual_seed(0)
    model = MLP(3, 1, (8,), hidden_sizes=(16,), batch_norm=True)
    norm = model.layers[2]
    body = [model.layers[1].weight, norm.weight, norm.bias]
    statistics = []

    class Snapshot(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            statistics.append((norm.running_mean.clone(), model.layers[1].weight.detach().clone()))

    inputs, labels = torch.randn(64, 8) + 3, torch.randint(0, 3, (64,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels), batch_size=16)
    start = (norm.running_mean.clone(), model.layers[1].weight.detach().clone())
    task = ClassificationTask(model, 3, {"_target_": "torch.optim.SGD", "lr": 0.1})
    trainer = pl.Trainer(max_epochs=3, callbacks=[FrozenBackbone(body, [norm], unfreeze_at_epoch=2), Snapshot()],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, loader, val_dataloaders=loader)  # validation switches modes and back each epoch
    for epoch in (0, 1):
        assert torch.equal(statistics[epoch][0], start[0]) and torch.equal(statistics[epoch][1], start[1])
    assert not torch.equal(statistics[2][0], start[0]) and not torch.equal(statistics[2][1], start[1])
    assert all(parameter.requires_grad for parameter in body) and norm.training


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    """LeNet-5 trained on digits 0-4 only."""
    folder = tmp_path_factory.mktemp("source")
    result = run_in_process("train", "data.classes=[0,1,2,3,4]", "hydra.run.dir=digits-0to4", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "digits-0to4"


def _accuracy(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["test/acc"]


@pytest.mark.slow
def test_frozen_backbone_from_digits_0_to_4_beats_scratch_on_100_examples_of_5_to_9(source_run: Path,
                                                                                   tmp_path: Path):
    transferred = run_in_process("transfer", f"source={source_run}", "head=classifier", "freeze=backbone",
                                 *FEW_LABELS, "hydra.run.dir=transferred", cwd=tmp_path)
    assert transferred.returncode == 0, transferred.stderr[-3000:]
    scratch = run_in_process("train", *FEW_LABELS, "hydra.run.dir=scratch", cwd=tmp_path)
    assert scratch.returncode == 0, scratch.stderr[-3000:]
    with_transfer, from_scratch = _accuracy(tmp_path / "transferred"), _accuracy(tmp_path / "scratch")
    print(f"digits 5-9, 20 examples per class: transfer {with_transfer:.4f}, scratch {from_scratch:.4f}")
    # Measured (seed 42): transfer 0.9611, scratch 0.9389 on the 180 test digits of 5-9.
    assert with_transfer > from_scratch
    assert with_transfer >= 0.9

    assert "frozen" in transferred.stdout and "2 blocks (features.0, features.3)" in transferred.stdout
    config = yaml.safe_load((tmp_path / "transferred" / "config.yaml").read_text())
    origin = config["transferred_from"]
    assert origin["checkpoint"] == str((source_run / "checkpoints" / "best.ckpt").resolve())
    assert origin["classes"] == ["0", "1", "2", "3", "4"] and origin["frozen"] == ["features.0", "features.3"]
    source = torch.load(source_run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    trained = torch.load(tmp_path / "transferred" / "checkpoints" / "best.ckpt", weights_only=True)
    assert torch.equal(trained["state_dict"]["model.features.0.weight"], source["model.features.0.weight"])
    assert trained["dltrain"]["class_names"] == ["5", "6", "7", "8", "9"]


def test_torchvision_weights_onto_grayscale_images(tmp_path: Path):
    torch.manual_seed(0)
    published = build_resnet(1000, 3, (224, 224), depth=18).state_dict()
    torch.save(published, tmp_path / "resnet18.pth")
    result = run_in_process("transfer", "source=torchvision", "model=resnet", "model.depth=18",
                            "model.weights=resnet18.pth", "debug=smoke", "data.image_size=8", "data.batch_size=8",
                            "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "inputs adapted to the source model: grayscale to RGB" in result.stdout + result.stderr
    assert "shape 64x3x7x7 in the source, 64x3x3x3 here" in result.stdout
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data"]["channels"] == 3 and "weights" not in config["model"]
    assert config["transferred_from"]["torchvision"] == "resnet18"
    assert config["transferred_from"]["frozen"][:2] == ["bn1", "layer1.0"]  # conv1 is new: it trains
    trained = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # Frozen batch norm in eval mode: the published running statistics are still there after training.
    assert torch.equal(trained["model.layer2.0.bn1.running_mean"], published["layer2.0.bn1.running_mean"])
    assert torch.equal(trained["model.layer4.1.conv2.weight"], published["layer4.1.conv2.weight"])
    assert not torch.equal(trained["model.fc.weight"][:, :4], torch.zeros(10, 4))
    # A transferred run is an ordinary one: eval rebuilds its RGB inputs from the run's own config.
    evaluated = run_in_process("eval", "run=run", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]


def test_an_image_model_onto_tabular_data_is_refused(source_run: Path, tmp_path: Path, iris_like_csv: Path):
    result = run_in_process("transfer", f"source={source_run}", "data=tabular", f"data.path={iris_like_csv}",
                            "data.label_column=species", cwd=tmp_path)
    assert_user_error(result, "cannot transfer the model of", "a model of images", "onto TabularDataModule",
                       "gives rows", "choose new data of images")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["model=mlp"], ["brings its own model", "drop the model options"]),
    (["freeze=none", "unfreeze_at_epoch=2"], ["nothing is frozen", "freeze=backbone"]),
    (["freeze=9"], ["freeze=9, but LeNet5 has 4 blocks before its head", "features.0, features.3"]),
    (["backbone_lr_scale=0"], ["backbone_lr_scale=0 is invalid"]),
    (["unfreeze_at_epoch=1", "trainer.devices=2", "+trainer.strategy=ddp", "trainer.accelerator=cpu"],
     ["unfreeze_at_epoch cannot be used with several processes", "trainer.devices=1"]),
])
def test_transfer_settings_errors(source_run: Path, tmp_path: Path, arguments: list[str], fragments: list[str]):
    result = run_in_process("transfer", f"source={source_run}", *arguments, cwd=tmp_path)
    assert_user_error(result, *fragments)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["source=nowhere"], ["run directory not found: nowhere"]),
    (["source=nowhere/best.ckpt"], ["checkpoint not found: nowhere/best.ckpt"]),
    (["source=torchvision", "model=lenet"], ["needs a model torchvision has"]),
    (["source=torchvision", "model=resnet", "model.depth=18"], ["needs model.weights"]),
    (["source=torchvision", "model=resnet", "model.depth=18", "model.weights=missing.pth"],
     ["no such file 'missing.pth'"]),
    (["source=torchvision", "model=resnet", "model.depth=18", "model.weights=IMAGENET9K"],
     ["torchvision has no weights 'IMAGENET9K' for resnet18", "IMAGENET1K_V1"]),
])
def test_source_errors(tmp_path: Path, arguments: list[str], fragments: list[str]):
    assert_user_error(run_in_process("transfer", *arguments, cwd=tmp_path), *fragments)
    assert not (tmp_path / "runs").exists()


def test_text_keeps_the_source_vocabulary(tmp_path: Path):
    from tests.fabricate import topic_texts, write_texts

    write_texts(tmp_path / "topics.csv", topic_texts(120))
    source = run_in_process("train", "model=gru", "data=text", "data.path=topics.csv", "debug=smoke",
                            "hydra.run.dir=source", cwd=tmp_path)
    assert source.returncode == 0, source.stderr[-3000:]
    # New labels, and words the source never saw: they must map to the source's <unk>, not to new ids.
    write_texts(tmp_path / "moods.csv", [(f"{text} zyzzyva", "calm" if index % 2 else "tense")
                                         for index, (text, _) in enumerate(topic_texts(80, seed=5))])
    result = run_in_process("transfer", "source=source/checkpoints/last.ckpt", "data=text", "data.path=moods.csv",
                            "debug=smoke", "hydra.run.dir=moods", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    before = torch.load(tmp_path / "source" / "checkpoints" / "last.ckpt", weights_only=True)
    after = torch.load(tmp_path / "moods" / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["TextDataModule"]["vocabulary"] == before["TextDataModule"]["vocabulary"]
    assert after["TextDataModule"]["class_names"] == ["calm", "tense"]
    assert torch.equal(after["state_dict"]["model.front.weight"], before["state_dict"]["model.front.weight"])


def test_an_image_folder_tells_its_format_without_decoding(tmp_path: Path):
    from dltrain.data.image_folder import ImageFolderDataModule
    from tests.fabricate import write_image_tree

    write_image_tree(tmp_path / "photos")
    data = ImageFolderDataModule(str(tmp_path / "photos"), image_size=24, channels=1)
    assert data.image_format() == (1, [24, 24]) and not data.splits
