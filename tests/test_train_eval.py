"""End to end through the real command: run directory contract, eval reproduction, sweeps, repeatability."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import only_run_dir

SYNTHETIC = ["data=synthetic", "data.num_samples=300", "model=mlp", "model.hidden_sizes=[32]",
             "callbacks=minimal", "trainer.max_epochs=3"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of the defaults (tested on the whole test split), shared by the tests that read it."""
    from tests.conftest import run_in_process

    root = tmp_path_factory.mktemp("smoke")
    result = run_in_process("train", "debug=smoke", "trainer.limit_test_batches=1.0", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, only_run_dir(root), result


def test_run_directory_contract(smoke_run):
    _, run_dir, result = smoke_run
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv", "metrics.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"test/acc", "test/f1", "test/loss"}
    assert all(isinstance(value, float) for value in metrics.values())
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert len(rows) == 1 and {"epoch", "lr", "train/loss", "val/loss", "val/acc"} <= set(rows[0])
    assert float(rows[0]["lr"]) == 0.003  # the rate epoch 0 trained with, before the scheduler stepped
    assert "dltrain train: done" in result.stdout and str(run_dir.name) in result.stdout


def test_checkpoint_holds_plain_containers_only(smoke_run):
    _, run_dir, _ = smoke_run
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    metadata = checkpoint["dltrain"]
    assert metadata["class_names"] == [str(k) for k in range(10)]
    assert metadata["config"]["model"]["_target_"] == "dltrain.models.lenet.LeNet5"
    assert metadata["spec"] == {"in_channels": 1, "input_size": [16, 16], "num_classes": 10, "input_kind": "images"}


def test_eval_reproduces_the_test_metrics(smoke_run, dltrain):
    root, run_dir, _ = smoke_run
    result = dltrain("eval", f"run={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "eval.json").read_text()) == json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert "test/acc" in result.stdout


def test_eval_another_split_and_output(smoke_run, dltrain, tmp_path: Path):
    _, run_dir, _ = smoke_run
    output = tmp_path / "val.json"
    result = dltrain("eval", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", "data.split=val", f"output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(output.read_text())
    assert set(metrics) == {"val/acc", "val/f1", "val/loss"}
    assert (tmp_path / "confusion_matrix.png").is_file()


def test_eval_on_data_of_another_shape_is_refused(smoke_run, dltrain):
    _, run_dir, _ = smoke_run
    result = dltrain("eval", f"run={run_dir}", "data=synthetic")
    assert result.returncode == 2 and "was trained on" in result.stderr


def test_same_seed_same_metrics(dltrain, tmp_path: Path):
    """Split, init, shuffling, dropout and augmentation all follow the seed."""
    for name, seed in (("a", 42), ("b", 42), ("c", 7)):
        result = dltrain("train", "model=mlp", "model.dropout=0.1", "callbacks=minimal", "trainer.max_epochs=3",
                         f"seed={seed}", f"hydra.run.dir={name}")
        assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "a" / "metrics.json").read_text() == (tmp_path / "b" / "metrics.json").read_text()
    assert (tmp_path / "a" / "metrics.json").read_text() != (tmp_path / "c" / "metrics.json").read_text()
    first = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    second = list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert first == second and len(first) == 3


def test_sweep_makes_one_run_directory_per_job(dltrain, tmp_path: Path):
    result = dltrain("train", "-m", "debug=smoke", "optimizer=adam,sgd", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    for job, optimizer in enumerate(["Adam", "SGD"]):
        config = (tmp_path / "sweep" / str(job) / "config.yaml").read_text()
        assert f"torch.optim.{optimizer}" in config
        assert (tmp_path / "sweep" / str(job) / "metrics.json").is_file()


def test_tabular_csv_trains_and_keeps_class_names(dltrain, tmp_path: Path, iris_like_csv: Path):
    result = dltrain("train", "data=tabular", f"data.path={iris_like_csv}", "data.label_column=species",
                     "model=mlp", "callbacks=minimal", "trainer.max_epochs=15", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"] >= 0.9
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["dltrain"]["class_names"] == ["setosa", "versicolor", "virginica"]


def test_a_spreadsheets_table_with_a_category_trains_and_predicts(dltrain, tmp_path: Path):
    """Semicolons and decimal commas, as spreadsheets write them in many locales, and a text column the class
    depends on: the run reads it as categories, records them, and predict encodes new rows the same way."""
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(400):
        size, shape = rng.uniform(0, 1), rng.choice(["round", "square", "long"])
        label = "big" if size > {"round": 0.3, "square": 0.5, "long": 0.7}[shape] else "small"
        rows.append(f"{size:.3f}".replace(".", ",") + f";{shape};{label}")
    (tmp_path / "parts.csv").write_text("size;shape;label\n" + "\n".join(rows) + "\n")
    result = dltrain("train", "data=tabular", "data.path=parts.csv", "data.label_column=label", "model=mlp",
                     "callbacks=minimal", "trainer.max_epochs=40", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data.categorical_columns  [shape] (auto: columns of text; values: shape 3)" in result.stdout
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"] >= 0.9
    (tmp_path / "new.csv").write_text("shape,size\nround,0.4\nlong,0.6\nsquare,0.9\nsquare,0.1\n")
    result = dltrain("predict", "run=run", "input=new.csv", "output=predicted.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "predicted.csv", newline="", encoding="utf-8") as handle:
        assert [row["label"] for row in csv.DictReader(handle)] == ["big", "small", "big", "small"]
    # Another labelled file, its columns in another order, one more column, two of the three shapes: evaluated
    # with the run's columns and categories.
    other = [f"{rng.random()},{row.split(';')[1]},{row.split(';')[2]},{row.split(';')[0].replace(',', '.')}"
             for row in rows if ";square;" not in row]
    (tmp_path / "other.csv").write_text("noise,shape,label,size\n" + "\n".join(other) + "\n")
    result = dltrain("eval", "run=run", "data.path=other.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["test/acc"] >= 0.9


def test_tensorboard_logger(dltrain, tmp_path: Path):
    result = dltrain("train", *SYNTHETIC, "logger=tensorboard", "trainer.max_epochs=1", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_a_run_without_logger_or_callbacks(dltrain, tmp_path: Path):
    """logger=null (as ~logger) and ~callbacks: no logs/ folder and no best.ckpt, the rest of the run as always
    (the learning-rate monitor, which needs a logger, is left out; metrics.csv keeps the rate)."""
    result = dltrain("train", *[o for o in SYNTHETIC if not o.startswith("callbacks")], "logger=null",
                     "~callbacks", "trainer.max_epochs=2", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert not (run / "logs").exists() and not (run / "checkpoints" / "best.ckpt").exists()
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.json").is_file()
    with open(run / "metrics.csv", newline="", encoding="utf-8") as handle:
        assert [float(row["lr"]) > 0 for row in csv.DictReader(handle)] == [True, True]


def test_a_monitor_naming_no_logged_figure_is_one_line_after_the_first_validation(dltrain, tmp_path: Path):
    """Lightning would stop with a traceback at the epoch's end; train/* figures are checked at that end too."""
    from tests.conftest import assert_user_error

    result = dltrain("train", *SYNTHETIC, "callbacks.checkpoint.monitor=val/accc", "hydra.run.dir=run")
    assert_user_error(result, "callbacks.checkpoint.monitor=val/accc is not a figure this run logs",
                      "did you mean 'val/acc'?")
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "failed"
    result = dltrain("train", *SYNTHETIC, "callbacks.checkpoint.monitor=train/loss", "hydra.run.dir=run2")
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_a_compiled_model_trains_and_its_checkpoint_loads_uncompiled(tmp_path: Path):
    from tests.conftest import run_in_process

    result = run_in_process("train", "model=mlp", "trainer.compile=true", "debug=smoke",
                            "trainer.limit_test_batches=1.0", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    state = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert state and not any("_orig_mod" in key for key in state)
    evaluated = run_in_process("eval", "run=run", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text()) == pytest.approx(
        json.loads((tmp_path / "run" / "metrics.json").read_text()), abs=1e-5)
