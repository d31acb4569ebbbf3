"""Learning without labels: autoencoders (deep, denoising, variational) and GANs, sized from any data, trained
through the same CLI and run directory, and measured."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from dltrain.models.autoencoder import Autoencoder
from dltrain.models.conv_autoencoder import ConvAutoencoder
from dltrain.models.dcgan import DCGAN
from dltrain.models.vae import VariationalAutoencoder
from tests.conftest import run_dltrain


@pytest.mark.parametrize(("channels", "size"), [(1, (16, 16)), (3, (28, 28)), (3, (13, 21))])
def test_image_autoencoders_rebuild_any_size_in_its_range(channels: int, size: tuple[int, int]):
    images = torch.rand(2, channels, *size)
    for model in (Autoencoder(channels, size, input_kind="images"), ConvAutoencoder(channels, size, input_kind="images"),
                  VariationalAutoencoder(channels, size, input_kind="images")):
        rebuilt = model(images)
        assert rebuilt.shape == images.shape and 0 <= rebuilt.min() and rebuilt.max() <= 1
        assert model.encode(images).shape == (2, model.latent_dim)


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


def _metrics(run: Path) -> dict[str, float]:
    return json.loads((run / "metrics.json").read_text())


def _column(run: Path, name: str) -> list[float]:
    with open(run / "metrics.csv", newline="") as handle:
        return [float(row[name]) for row in csv.DictReader(handle)]


def test_a_denoising_autoencoder_output_is_closer_to_the_clean_image_than_its_noisy_input(tmp_path: Path):
    result = run_dltrain("train", "task=autoencoder", "model=conv_autoencoder", "task.noise=0.3",
                         "trainer.max_epochs=6", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = _metrics(tmp_path / "run")
    print(f"denoising: PSNR {metrics['test/psnr']:.1f} dB rebuilt, {metrics['test/psnr_input']:.1f} dB noisy input")
    # Measured (seed 42, 6 epochs): 19.2 dB against 12.6 dB.
    assert metrics["test/psnr"] > metrics["test/psnr_input"] + 4
    with Image.open(tmp_path / "run" / "reconstructions.png") as grid:  # inputs, noisy inputs, reconstructions
        assert grid.size == (8 * 17 + 1, 3 * 17 + 1)
    evaluated = run_dltrain("eval", "run=run", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["test/psnr"] == pytest.approx(
        metrics["test/psnr"], abs=0.5)  # fresh noise: close, not equal


def test_a_vae_improves_its_elbo_and_leaves_a_sample_grid_per_epoch(tmp_path: Path):
    result = run_dltrain("train", "task=vae", "model=vae", "task.kl_warmup_epochs=2", "trainer.max_epochs=6",
                         "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    elbo = _column(tmp_path / "run", "val/elbo")
    assert elbo[-1] > elbo[0], elbo
    assert sorted(path.name for path in (tmp_path / "run" / "samples").iterdir()) == \
        [f"epoch_{epoch:03d}.png" for epoch in range(1, 7)]
    assert (tmp_path / "run" / "samples.png").is_file() and (tmp_path / "run" / "reconstructions.png").is_file()


def test_an_autoencoder_reads_the_rows_of_a_users_table(tmp_path: Path, iris_like_csv: Path):
    result = run_dltrain("train", "task=autoencoder", "model=autoencoder", "data=tabular", f"data.path={iris_like_csv}",
                         "data.label_column=species", "trainer.max_epochs=30", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    # Standardized features have a variance of 1 (what rebuilding every row as the mean would leave): measured 0.012.
    assert _metrics(tmp_path / "run")["test/mse"] < 0.1
    assert not (tmp_path / "run" / "reconstructions.png").exists()  # rows are no pictures


def test_a_gan_trains_without_a_monitor_and_keeps_its_latest_epoch(tmp_path: Path):
    result = run_dltrain("train", "task=gan", "model=dcgan", "model.width=16", "trainer.max_epochs=2",
                         "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "early stopping is off and best.ckpt holds the latest epoch" in result.stdout
    run = tmp_path / "run"
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["epoch"] == 1 and len(best["optimizer_states"]) == 2
    assert len(list((run / "samples").iterdir())) == 2 and (run / "samples.png").is_file()
    assert {"train/d_loss", "train/g_loss", "val/d_real", "val/d_fake"} <= set(next(csv.DictReader(
        open(run / "metrics.csv", newline=""))))
