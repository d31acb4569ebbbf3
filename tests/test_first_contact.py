"""A new user's first hour: defaults that fit their data, and a console that shows what matters.

Each test runs the command a user would type on data shaped as theirs would be (a folder of small PNGs,
spoken words, a CSV), not on the data the defaults were written for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from dltrain.assemble import build_model
from dltrain.data.image_folder import ImageFolderDataModule, automatic_size
from tests.conftest import run_in_process
from tests.fabricate import balanced_labels, class_images, write_image_tree


def _small_pictures(root: Path, size: int = 32, classes: int = 6, per_class: int = 30) -> Path:
    """root/<class>/<n>.png: RGB pictures of one size, a bright square whose place and colour tell the class."""
    labels = balanced_labels(classes * per_class, classes)
    for index, (pixels, label) in enumerate(zip(class_images(labels, 3, size), labels, strict=True)):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.transpose(1, 2, 0)).save(folder / f"{index}.png")
    return root


def test_a_folder_of_small_pictures_trains_at_their_own_size(dltrain, tmp_path: Path):
    _small_pictures(tmp_path / "pictures")
    result = dltrain("train", "data=image_folder", "data.root=pictures", "model=resnet", "trainer.max_epochs=3",
                     "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"data\.image_size\s+32 \(auto: the images are all 32x32\)", result.stdout), result.stdout
    assert "ResNet-20" in result.stdout
    run = tmp_path / "run"
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["image_size"] == 32
    assert json.loads((run / "metrics.json").read_text())["test/acc"] >= 0.8  # 6 classes: chance is 0.17


def test_auto_size_is_the_shared_size_else_the_median_shorter_side_at_most_224():
    assert automatic_size([(32, 32)] * 5) == (32, "auto: the images are all 32x32")
    assert automatic_size([(64, 48)] * 3)[0] == 48
    size, why = automatic_size([(40, 40), (48, 40), (30, 24), (100, 90), (60, 50)])
    assert size == 40 and "median shorter side" in why and "24 to 90 px" in why
    size, why = automatic_size([(1024, 768)] * 2, sampled=True)
    assert size == 224 and why.endswith("capped at 224") and "2 sampled images" in why


def test_image_folder_decides_its_size_from_the_headers(tmp_path: Path):
    write_image_tree(tmp_path, classes=("a", "b"), per_class=9, size=40)  # every third image is 48x40
    data = ImageFolderDataModule(root=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert data.image_format() == (3, [40, 40])
    data.setup()
    assert data.sizes["input_size"] == [40, 40]
    assert data.decided["image_size"][0] == 40 and "median" in data.decided["image_size"][1]
    fixed = ImageFolderDataModule(root=str(tmp_path), image_size=24, val_fraction=0.2, test_fraction=0.2)
    fixed.setup()
    assert fixed.sizes["input_size"] == [24, 24] and not fixed.decided


@pytest.mark.parametrize(("kind", "pooling"), [("clips", "mean"), ("texts", "last"), ("images", "last")])
def test_recurrent_models_pool_as_their_data_needs(kind: str, pooling: str):
    config = yaml.safe_load((Path(__file__).parents[1] / "conf" / "model" / "lstm.yaml").read_text())
    spec = {"in_channels": 1, "input_size": [20, 8], "num_classes": 3, "input_kind": kind}
    if kind == "texts":
        spec.update(input_size=[20], vocab_size=30)
    model = build_model(config, spec)
    assert model.pooling == pooling and f"{pooling} pooling" in model.display_name


def test_the_console_shows_a_header_a_line_per_epoch_and_the_table(dltrain, tmp_path: Path):
    result = dltrain("train", "trainer.max_epochs=2", "hydra.run.dir=run", env={"PYTHONWARNINGS": "default"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for pattern in (r"model\s+LeNet-5, 61,706 parameters",
                    r"data\s+digits: 1x16x16 images, 10 classes; 1,257 train / 180 val / 360 test",
                    r"device\s+cpu, \d+ threads?; precision 32-true; channels-last\n", r"run directory\s+run\n"):
        assert re.search(pattern, out), (pattern, out)
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and epochs[0].startswith("epoch 1/2  train/loss ") and " val/acc " in epochs[0]
    assert "dltrain train: done" in out and "test/acc" in out
    noise = ("GPU available", "TPU available", "Tip", "FLOPs", "Restoring states", "site-packages", "Warning",
             "build_resnet", "LeNet5 ")
    assert not [word for word in noise if word in out + result.stderr], out + result.stderr
    assert not re.search(r"^\[\d{4}-", out, re.MULTILINE) and result.stderr == ""
    log = (tmp_path / "run" / "train.log").read_text()
    assert "GPU available" in log and "epoch 2/2" in log


def test_verbose_brings_back_lightnings_console_and_eval_is_quiet(dltrain, tmp_path: Path):
    result = dltrain("train", "debug=smoke", "verbose=true", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GPU available" in result.stdout + result.stderr
    assert "Total params" in result.stdout + result.stderr
    result = dltrain("eval", "run=run")
    assert result.returncode == 0 and result.stderr == ""
    assert "GPU available" not in result.stdout and "test/acc" in result.stdout


def test_a_model_of_your_own_trains_once_the_replaced_options_settings_are_dropped(tmp_path: Path):
    """The fix the one-line error names (test_error_catalogue: "own model given the option's settings") works."""
    result = run_in_process("train", "model._target_=tests.own_model.StrictNet", "~model.activation", "~model.pooling",
                            "~model.dropout", "~model.image_size", "debug=smoke", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"model\s+StrictNet, 2,570 parameters", result.stdout)
