"""Learning without labels: autoencoders (deep, denoising, variational) and GANs, sized from any data, trained
through the same CLI and run directory, and measured."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dltrain.models.autoencoder import Autoencoder
from dltrain.models.conv_autoencoder import ConvAutoencoder
from dltrain.models.dcgan import DCGAN
from dltrain.models.encoder_classifier import EncoderClassifier
from dltrain.models.vae import VariationalAutoencoder
from tests.conftest import assert_user_error, run_dltrain, run_in_process


@pytest.mark.parametrize(("channels", "size"), [(1, (16, 16)), (3, (28, 28)), (3, (13, 21))])
def test_image_autoencoders_rebuild_any_size_in_its_range(channels: int, size: tuple[int, int]):
    images = torch.rand(2, channels, *size)
    for kind in (Autoencoder, ConvAutoencoder, VariationalAutoencoder):
        model = kind(channels, size, input_kind="images")
        rebuilt = model(images)
        assert rebuilt.shape == images.shape and 0 <= rebuilt.min() and rebuilt.max() <= 1
        assert model.encode(images).shape == (2, model.latent_dim)


@pytest.mark.parametrize("family", [Autoencoder, ConvAutoencoder, VariationalAutoencoder])
def test_a_classifier_reads_the_code_of_every_autoencoder(family: type):
    model = EncoderClassifier(4, 1, (16, 16), f"{family.__module__}.{family.__name__}", input_kind="images")
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 4) and model.autoencoder.decoder is None


def test_rows_come_back_unbounded():
    rows = torch.randn(4, 7) * 5
    rebuilt = Autoencoder(1, [7], input_kind="rows", hidden_sizes=[8], latent_dim=2)(rows)
    assert rebuilt.shape == rows.shape and not isinstance(Autoencoder(1, [7], input_kind="rows").decoder[-2],
                                                          torch.nn.Sigmoid)


@pytest.mark.parametrize("size", [(16, 16), (28, 28), (13, 21)])
@pytest.mark.parametrize("conditional", [False, True])
def test_dcgan_generates_the_data_shape_and_judges_it(size: tuple[int, int], conditional: bool):
    model = DCGAN(3, size, num_classes=4, conditional=conditional)
    labels = torch.tensor([0, 3]) if conditional else None
    images = model(torch.randn(2, model.latent_dim), labels)
    assert images.shape == (2, 3, *size) and 0 <= images.min() and images.max() <= 1
    assert model.discriminator(images, labels).shape == (2,)


def _column(run: Path, name: str) -> list[float]:
    with open(run / "metrics.csv", newline="") as handle:
        return [float(row[name]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A LeNet-5 judge, and on the default digits a class-conditional GAN and a self-conditioned one (no labels) at
    the digits' own 8x8 (the recipes' resolution, CI-sized), and a VAE."""
    folder = tmp_path_factory.mktemp("generative")
    for arguments in (["experiment=digits_lenet", "data.image_size=16", "trainer.max_epochs=10", "hydra.run.dir=judge"],
                      ["experiment=digits_cgan", "trainer.max_epochs=10", "hydra.run.dir=gan"],
                      ["experiment=digits_vae", "trainer.max_epochs=6", "hydra.run.dir=vae"],
                      ["experiment=digits_scgan", "hydra.run.dir=unlabelled_gan"]):
        result = run_in_process("train", *arguments, cwd=folder)
        assert result.returncode == 0, result.stderr[-2000:]
    return folder


def test_a_gan_trains_without_a_monitor_and_keeps_its_latest_epoch(runs: Path):
    run = runs / "gan"
    assert "early stopping is off and best.ckpt holds the latest epoch" in (run / "train.log").read_text()
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["epoch"] == 9 and len(best["optimizer_states"]) == 2
    assert len(list((run / "samples").iterdir())) == 10 and (run / "samples.png").is_file()
    with open(run / "metrics.csv", newline="") as handle:
        assert {"train/d_loss", "train/g_loss", "val/d_real", "val/d_fake"} <= set(next(csv.DictReader(handle)))


def test_a_vae_improves_its_elbo_and_its_samples_pass_the_judge_better_than_noise(runs: Path):
    elbo = _column(runs / "vae", "val/elbo")
    assert elbo[-1] > elbo[0], elbo
    assert sorted(path.name for path in (runs / "vae" / "samples").iterdir()) == \
        [f"epoch_{epoch:03d}.png" for epoch in range(1, 7)]
    result = run_in_process("eval", "run=vae", "judge=judge", "judge_samples=500", cwd=runs)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((runs / "vae" / "eval.json").read_text())
    print({key: round(value, 3) for key, value in figures.items() if "share" not in key})
    assert figures["judge/confident"] > figures["judge_noise/confident"]
    assert figures["judge/frechet"] < figures["judge_noise/frechet"]


def test_an_exported_conditional_generator_makes_the_asked_for_digit_as_the_run_does(runs: Path):
    exported = run_in_process("export", "run=gan", "format=onnx", cwd=runs)
    assert exported.returncode == 0, exported.stderr[-2000:]
    layout = json.loads((runs / "gan" / "export" / "manifest.json").read_text())["input"]
    assert (layout["kind"], layout["latent_dim"], layout["one_hot_classes"], layout["shape"][1]) == \
        ("codes", 64, 10, 74)
    for source, folder in (("model=gan/export/model.onnx", "onnx_sevens"), ("run=gan", "run_sevens")):
        made = run_in_process("generate", source, "num=5", "labels=[7,1]", f"output={folder}", cwd=runs)
        assert made.returncode == 0, made.stderr[-2000:]
        assert "7, 1" in made.stdout
    for name in ("0000.png", "0003.png", "grid.png"):
        ours, theirs = (np.asarray(Image.open(runs / folder / name), dtype=np.int16) for folder in ("onnx_sevens",
                                                                                                  "run_sevens"))
        assert np.abs(ours - theirs).max() <= 1


def test_generate_writes_the_asked_for_classes_seeded(runs: Path):
    result = run_in_process("generate", "run=gan", "num=6", "labels=[7]", "output=sevens", cwd=runs)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(path.name for path in (runs / "sevens").iterdir()) == [f"000{i}.png" for i in range(6)] + ["grid.png"]
    with Image.open(runs / "sevens" / "0000.png") as image:
        assert image.size == (8, 8)
    again = run_in_process("generate", "run=gan", "num=6", "labels=[7]", "output=again", cwd=runs)
    assert again.returncode == 0 and (runs / "again" / "0003.png").read_bytes() == \
        (runs / "sevens" / "0003.png").read_bytes()  # seeded


def _judged(runs: Path, run: str) -> dict[str, float]:
    result = run_in_process("eval", f"run={run}", "judge=judge", "judge_samples=500", f"output={run}.json", cwd=runs)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((runs / f"{run}.json").read_text())
    print(run, {key: round(value, 3) for key, value in figures.items() if "share" not in key})
    assert sum(figures[f"judge/share_{digit}"] for digit in range(10)) == pytest.approx(1.0)
    return figures


def test_a_conditional_gan_draws_the_asked_for_digit(runs: Path):
    """10 epochs of digits_cgan (~8 s): the judge agrees with the asked-for class on ~90% of samples."""
    figures = _judged(runs, "gan")
    assert figures["judge/agreement"] >= 0.8 and figures["judge_noise/agreement"] < 0.2
    assert figures["judge/confident"] > 2 * figures["judge_noise/confident"]


def test_a_gan_without_labels_makes_recognisable_digits_of_every_class(runs: Path):
    """digits_scgan (40 epochs, ~27 s): k-means clusters of the training digits condition the GAN, no labels. Measured
    at seed 42: 75.4% of 500 samples recognised with confidence >= 0.9, rarest class 7.2%, Frechet 36.0 (noise: ~15%,
    ~190); seeds 1-3 (and the default memory layout) give 72-84%. The plain digits_dcgan takes 300 epochs (157 s) to
    81.5%."""
    figures = _judged(runs, "unlabelled_gan")
    assert figures["judge/confident"] >= 0.7 and figures["judge/coverage_min"] >= 0.04
    assert figures["judge/frechet"] < figures["judge_noise/frechet"] / 4


def test_an_exported_generator_makes_the_runs_images_without_lightning(runs: Path):
    exported = run_in_process("export", "run=unlabelled_gan", "format=onnx", cwd=runs)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "random codes" in exported.stdout
    manifest = json.loads((runs / "unlabelled_gan" / "export" / "manifest.json").read_text())
    assert manifest["input"]["kind"] == "codes" and manifest["input"]["shape"][1] == 64
    blocker = runs / "no_lightning"
    for package in ("pytorch_lightning", "lightning_fabric"):
        (blocker / package).mkdir(parents=True, exist_ok=True)
        (blocker / package / "__init__.py").write_text("raise ImportError('generate from ONNX imported Lightning')\n")
    from_onnx = run_dltrain("generate", "model=unlabelled_gan/export/model.onnx", "num=9", "output=from_onnx", cwd=runs,
                            env={"PYTHONPATH": str(blocker)})
    assert from_onnx.returncode == 0, from_onnx.stderr[-2000:]
    assert_user_error(run_in_process("generate", "model=unlabelled_gan/export/model.onnx", "labels=[7]", cwd=runs),
                      "not trained with them", "model.conditional=true")
    from_run = run_in_process("generate", "run=unlabelled_gan", "num=9", "output=from_run", cwd=runs)
    assert from_run.returncode == 0, from_run.stderr[-2000:]
    for name in ("0004.png", "grid.png"):
        ours, theirs = (np.asarray(Image.open(runs / folder / name), dtype=np.int16) for folder in ("from_onnx",
                                                                                                  "from_run"))
        assert np.abs(ours - theirs).max() <= 1  # the same codes; ONNX Runtime rounds a hair differently


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["generate", "run=judge"], ("is a run of ClassificationTask, which generates nothing", "task=gan")),
    (["generate", "run=gan", "labels=[x]"], ("this model has no class 'x'", "its classes are: 0, 1")),
    (["generate", "run=vae", "labels=[7]"], ("not trained with them", "model.conditional=true")),
    (["generate", "run=gan", "num=0"], ("num=0 is invalid", "num=64")),
    (["eval", "run=gan", "judge=gan"], ("is no classifier run", "task=classification")),
    (["eval", "run=judge", "judge=judge"], ("judge= measures the images of a generator", "task=gan")),
    (["predict", "run=gan", "input=sevens"], ("reads no inputs to predict", "dltrain generate")),
    (["generate", "model=judge/checkpoints/best.ckpt"], ("no exported generator", "task=gan")),
])
def test_generative_mistakes_get_one_line(runs: Path, arguments: list[str], fragments: tuple[str, ...]):
    (runs / "sevens").mkdir(exist_ok=True)
    assert_user_error(run_in_process(*arguments, cwd=runs), *fragments)
