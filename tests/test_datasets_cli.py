"""Through the CLI: every model trains on digits and on 3-channel 32x32 files, every dataset config loads its
files, image folders keep their class names, and missing or corrupt files are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import assert_user_error
from tests.fabricate import write_cifar10, write_cifar100, write_image_tree, write_mnist

MODELS = "lenet,mlp,resnet,vgg,alexnet,googlenet,rnn,lstm,gru"


def _swept_metrics(sweep: Path) -> list[dict]:
    runs = sorted((path for path in sweep.iterdir() if path.name.isdigit()), key=lambda path: int(path.name))
    return [json.loads((run / "metrics.json").read_text()) for run in runs]


@pytest.mark.parametrize("data", [[], ["data=cifar10", "data.root=files"]], ids=["digits", "cifar10-files"])
def test_every_model_trains_from_the_cli(dltrain, tmp_path: Path, data: list[str]):
    write_cifar10(tmp_path / "files", per_batch=20, test=16)
    result = dltrain("train", "-m", f"model={MODELS}", *data, "data.batch_size=8", "debug=smoke",
                     "hydra.sweep.dir=sweep", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = _swept_metrics(tmp_path / "sweep")
    assert len(metrics) == len(MODELS.split(","))
    assert all(0 <= run["test/acc"] <= 1 for run in metrics)


def test_every_published_dataset_config_loads_its_files(dltrain, tmp_path: Path):
    write_mnist(tmp_path / "data" / "MNIST" / "raw")
    write_mnist(tmp_path / "data" / "FashionMNIST" / "raw", compress=True)
    write_cifar10(tmp_path / "data", per_batch=20, test=16)
    write_cifar100(tmp_path / "data", train=40, test=16)
    result = dltrain("train", "-m", "data=mnist,fashion_mnist,cifar10,cifar100", "data.root=data", "model=lenet",
                     "data.batch_size=8", "debug=smoke", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    specs = [json.loads(json.dumps(torch.load(tmp_path / "sweep" / str(job) / "checkpoints" / "best.ckpt",
                                              weights_only=True)["dltrain"]["spec"])) for job in range(4)]
    assert [(spec["in_channels"], spec["num_classes"]) for spec in specs] == [(1, 10), (1, 10), (3, 10), (3, 100)]


def test_image_folder_learns_and_eval_reports_its_class_names(dltrain, tmp_path: Path):
    write_image_tree(tmp_path / "photos", classes=("cat", "dog", "fox"), per_class=30)
    result = dltrain("train", "model=resnet", "data=image_folder", "data.root=photos", "data.image_size=24",
                     "data.batch_size=16", "trainer.max_epochs=8", "callbacks=minimal", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"] >= 0.9
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["dltrain"]["class_names"] == ["cat", "dog", "fox"]
    evaluated = dltrain("eval", "run=run")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text()) == json.loads(
        (tmp_path / "run" / "metrics.json").read_text())


def test_missing_dataset_files_are_a_one_line_error_without_a_run_directory(dltrain, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    result = dltrain("train", "data=cifar10", "data.root=empty")
    assert_user_error(result, "no CIFAR-10 files under data.root=empty", "data_batch_1", "data.download=true")
    assert not (tmp_path / "runs").exists()


def test_corrupt_image_is_a_one_line_error_naming_the_file(dltrain, tmp_path: Path):
    write_image_tree(tmp_path / "photos", classes=("a", "b"), per_class=12)
    (tmp_path / "photos" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    result = dltrain("train", "data=image_folder", "data.root=photos", "data.image_size=16")
    assert_user_error(result, "cannot read image photos/a/broken.png", "data.skip_corrupt=true")
    assert not (tmp_path / "runs").exists()
