"""Scaling out through the engines users already have: Hydra's submitit launcher (local processes here, SLURM by
composing its config), Optuna through Hydra's sweeper, and Lightning's DDP and FSDP trainer configs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from dltrain.configs import config_dir
from dltrain.run_records import find_runs
from tests.conftest import run_in_process


def _composed(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.slow
def test_an_optuna_search_records_failed_trials_and_writes_the_best(tmp_path: Path):
    """Four trials over a learning rate that is fine or absurd (1e8 diverges): the diverged trials are failed ones,
    the search goes on, and the best parameters are those of the best finished trial."""
    result = run_in_process("train", "-m", "hparams_search=optuna", "model=mlp", "trainer.max_epochs=2",
                            "hydra.sweeper.n_trials=4", "optimizer.lr=choice(0.003,1e8)", "hydra.sweep.dir=search",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = find_runs([tmp_path / "search"])
    states = [record.state for record in records]
    assert len(records) == 4 and "diverged" in states and "finished" in states, states
    assert "error: training diverged" in result.stderr
    best = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    finished = [record for record in records if record.state == "finished"]
    objectives = [min(value for _, value in record.curve("val/loss")) for record in finished]
    assert best["best_value"] == pytest.approx(min(objectives))
    assert best["best_params"]["optimizer.lr"] == 0.003 and set(best["best_params"]) == {
        "optimizer.lr", "optimizer.weight_decay", "model.dropout"}


def test_a_search_objective_the_run_never_measured_is_named(tmp_path: Path):
    result = run_in_process("train", "-m", "hparams_search=optuna", "debug=smoke", "hydra.sweeper.n_trials=1",
                            "search.objective=val/accuracy", "hydra.sweep.dir=search", cwd=tmp_path)
    assert result.returncode == 2 and "error: search.objective=val/accuracy: this run did not measure it" in \
        result.stderr


def test_a_search_whose_every_trial_fails_ends_in_one_line(tmp_path: Path):
    """A mistake no hyperparameter changes (a missing file) fails every trial; the search then has no result, which
    is said in one line with the trials' error (not optuna's "No trials are completed yet" traceback)."""
    result = run_in_process("train", "-m", "hparams_search=optuna_mlp", "data=tabular", "data.path=nope.csv",
                            "data.label_column=y", "hydra.sweeper.n_trials=2", "hydra.sweep.dir=search", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: every trial of the search failed, the last with: data.path: no such file 'nope.csv' — pass the path "
        "of a CSV file with a header row, e.g. data.path=data/iris.csv")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_two_job_sweep_through_submitit_local_processes(tmp_path: Path):
    result = run_in_process("train", "-m", "hydra/launcher=local", "model=mlp", "optimizer.lr=0.01,0.003",
                            "trainer.max_epochs=2", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = find_runs([tmp_path / "sweep"])
    assert [record.state for record in records] == ["finished", "finished"]
    assert sorted(record.overrides[1] for record in records) == ["optimizer.lr=0.003", "optimizer.lr=0.01"]
    assert all(json.loads((record.folder / "metrics.json").read_text())["test/acc"] > 0.5 for record in records)
    assert list((tmp_path / "sweep" / ".submitit").glob("*/*_log.out"))  # each job's console, kept


def test_the_slurm_launcher_follows_the_trainer_s_nodes_and_devices():
    config = _composed(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                        "hydra.launcher.partition=gpu", "hydra.launcher.account=lab"])
    from omegaconf import OmegaConf

    launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["nodes"], launcher["gpus_per_node"], launcher["tasks_per_node"]) == (2, 4, 4)
    assert (launcher["partition"], launcher["account"], launcher["timeout_min"]) == ("gpu", "lab", 240)


@pytest.mark.parametrize(("option", "expected"), [
    ("ddp", {"accelerator": "gpu", "strategy": "ddp", "precision": "bf16-mixed", "sync_batchnorm": True}),
    ("ddp_cpu", {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}),
    ("fsdp", {"accelerator": "gpu", "strategy": "fsdp", "precision": "bf16-mixed"}),
])
def test_distributed_trainer_configs(option: str, expected: dict):
    trainer = _composed([f"trainer={option}"]).trainer
    assert {key: trainer[key] for key in expected} == expected


@pytest.mark.slow
def test_mlflow_receives_the_config_the_epochs_and_the_run_directory(tmp_path: Path):
    """A real MLflow tracking server on 127.0.0.1 (its own SQLite store and artifact folder), and a run logging to
    it: what arrived is read back through MLflow's client."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from mlflow import MlflowClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'store.db'}",
                               "--artifacts-destination", str(tmp_path / "artifacts")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{uri}/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        result = run_in_process("train", "model=mlp", "trainer.max_epochs=3", "logger=mlflow",
                                f"logger.tracking_uri={uri}", "logger.run_name=digits-mlp", "hydra.run.dir=run",
                                cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        client = MlflowClient(uri)
        run = client.search_runs([client.get_experiment_by_name("dltrain").experiment_id])[0]
        assert run.info.run_name == "digits-mlp" and run.info.status == "FINISHED"
        assert run.data.params["optimizer/lr"] == "0.003" and run.data.params["model/_target_"] == \
            "dltrain.models.mlp.MLP"
        assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 3  # one per epoch
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert run.data.metrics["test/acc"] == pytest.approx(metrics["test/acc"])
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "metrics.csv", "metrics.json", "status.json", "train.log"} <= artifacts
        assert "checkpoints" not in artifacts
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started
        server.wait(timeout=30)


def _data_of_every_family(folder: Path) -> dict:
    """A data module of each kind that trains in memory or from files, on small fabricated inputs."""
    import numpy as np

    from dltrain.data.dense.segmentation import SegmentationFolderDataModule
    from dltrain.data.dense.shapes import write_shapes
    from dltrain.data.digits import DigitsDataModule
    from dltrain.data.image_folder import ImageFolderDataModule
    from dltrain.data.ratings import RatingsDataModule
    from dltrain.data.signals import SignalsDataModule
    from dltrain.data.tabular import TabularDataModule
    from dltrain.data.text import TextDataModule
    from tests.fabricate import bump_signals, topic_texts, write_image_tree, write_signal_rows, write_texts

    rng = np.random.default_rng(0)
    (folder / "table.csv").write_text("a,b,y\n" + "".join(f"{rng.normal():.6f},{rng.normal():.6f},{i % 3}\n"
                                                          for i in range(90)))
    write_signal_rows(folder / "signals.csv", *bump_signals(80, steps=16))
    write_texts(folder / "texts.csv", topic_texts(80))
    write_image_tree(folder / "photos", per_class=10, size=12)
    write_shapes(folder / "scenes", "segmentation", 24, size=16)
    (folder / "ratings.csv").write_text("user,item,rating\n" + "".join(
        f"u{user},i{item},{1 + (user * item) % 5}\n" for user in range(12) for item in range(10) if (user + item) % 3))
    options = {"batch_size": 8, "seed": 3}
    return {
        "images in memory": DigitsDataModule(**options),
        "rows": TabularDataModule(path=str(folder / "table.csv"), label_column="y", **options),
        "numbers to predict": TabularDataModule(path=str(folder / "table.csv"), label_column="y", targets="numbers",
                                                **options),
        "signals": SignalsDataModule(path=str(folder / "signals.csv"), label_column="label", **options),
        "texts": TextDataModule(path=str(folder / "texts.csv"), **options),
        "images from disk": ImageFolderDataModule(root=str(folder / "photos"), image_size=12, max_memory_gb=0,
                                                  num_workers=0, **options),
        "masks": SegmentationFolderDataModule(root=str(folder / "scenes"), image_size=16, **options),
        "ratings": RatingsDataModule(path=str(folder / "ratings.csv"), user_column="user", item_column="item",
                                     rating_column="rating", **options),
    }


def test_every_data_family_gives_each_of_two_processes_its_own_shard(tmp_path: Path):
    """Under DDP every process trains on its own part of each epoch: the two ranks' training examples never overlap
    and together leave out less than one per rank (an uneven count's last example)."""
    from types import SimpleNamespace

    import torch

    for family, data in _data_of_every_family(tmp_path).items():
        data.setup("fit")
        total = data.split_size("train")
        seen = []
        for rank in (0, 1):
            data.trainer = SimpleNamespace(global_rank=rank, world_size=2, training=True,
                                           strategy=SimpleNamespace(root_device=torch.device("cpu")))
            keys = set()
            for batch in data.loader("train", shuffle=True):
                for row in batch[0].flatten(1) if batch[0].dim() > 1 else batch[0][:, None]:
                    # Token ids are padded to each batch's longest text: an example is its ids without the padding.
                    keys.add(tuple((row[row != 0] if family == "texts" else row).tolist()))
            seen.append(keys)
        assert not seen[0] & seen[1], family
        assert total - 2 < len(seen[0]) + len(seen[1]) <= total, (family, total, [len(part) for part in seen])


def test_wandb_offline_keeps_the_run_in_its_directory(tmp_path: Path):
    """logger=wandb writes nothing anywhere but the run directory (offline), ready for `wandb sync`: the config, the
    epochs' and the test's figures are in its record."""
    result = run_in_process("train", "debug=smoke", "logger=wandb", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(records) == 1
    content = _written_record(records[0])
    assert b"torch.optim.Adam" in content and b"val/loss" in content and b"test/acc" in content
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def _written_record(path: Path, patience_s: float = 30.0) -> bytes:
    """The offline record once wandb's service has written it: `finish()` returns when the service has the run's
    end, and on a loaded machine the file can still hold only its header for a moment after (seen once in CI)."""
    import time

    deadline = time.monotonic() + patience_s
    while b"test/acc" not in (content := path.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return content


@pytest.mark.parametrize(("option", "model", "dimension"), [
    ("optuna_mlp", "dltrain.models.mlp.MLP", "model.hidden_sizes"),
    ("optuna_resnet", "dltrain.models.resnet.build_resnet", "model.depth"),
])
def test_the_search_spaces_of_the_model_families(option: str, model: str, dimension: str):
    config = _composed([f"hparams_search={option}"])
    assert config.model._target_ == model and config.search.objective == "val/loss"
    assert set(config.hydra.sweeper.params) == {"optimizer.lr", "optimizer.weight_decay", "model.dropout", dimension}
