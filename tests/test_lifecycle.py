"""A run's life through the real command: resumed after a kill or a signal exactly as if never stopped, extended,
crash-safe checkpoints, a diverging run stopped, and no run ever written into another's directory."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dltrain.callbacks import AtomicCheckpointIO
from dltrain.lifecycle import claim_run_directory
from tests.conftest import assert_user_error, run_dltrain, run_in_process
from tests.resuming import REPO, metrics_rows, same_run, status

# Six epochs of the default LeNet-5 with dropout and augmentation: every random generator matters. last.ckpt after
# every epoch, so that a kill can land anywhere after the first.
RUN = ["trainer.max_epochs=6", "model.dropout=0.2", "last_checkpoint_every=0"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    result = run_in_process("train", *RUN, "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "run"


@pytest.mark.slow
def test_a_run_killed_at_three_random_points_resumes_to_the_same_weights(uninterrupted: Path, tmp_path: Path):
    chance = random.Random(7)
    for attempt in range(3):
        run = tmp_path / f"killed{attempt}"
        process = subprocess.Popen([sys.executable, "-m", "dltrain", "train", *RUN, f"hydra.run.dir={run}"],
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(chance.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        result = run_in_process("train", f"resume={run}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert same_run(run, uninterrupted), f"attempt {attempt}"
        assert status(run)["status"] == "finished"


def test_sigterm_saves_mid_epoch_and_the_resumed_run_is_the_same_run(uninterrupted: Path, tmp_path: Path):
    env = {"PYTHONPATH": str(REPO)}
    stop = ["+callbacks.stop._target_=tests.lifecycle_parts.SignalOnce", f"+callbacks.stop.marker={tmp_path}/sent"]
    result = run_dltrain("train", *RUN, *stop, "hydra.run.dir=run", cwd=tmp_path, env=env)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stopped by SIGTERM at epoch 3, step 46" in lines[0]
    assert "continue with: dltrain train resume=" in result.stderr
    assert status(tmp_path / "run")["status"] == "interrupted"
    result = run_dltrain("train", "resume=run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resumed from" in result.stdout
    # The reference carries the same (already spent) callback, so both configs are the same.
    reference = run_in_process("train", *RUN, *stop, "hydra.run.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert same_run(tmp_path / "run", tmp_path / "reference", resumed_mid_epoch=2)
    assert [int(row["epoch"]) for row in metrics_rows(tmp_path / "run")] == list(range(6))


def test_resume_last_extends_the_latest_run_in_its_own_directory(tmp_path: Path):
    assert run_in_process("train", "trainer.max_epochs=2", cwd=tmp_path).returncode == 0
    [run] = [path for path in (tmp_path / "runs").glob("*/*") if path.is_dir()]
    result = run_in_process("train", "resume=last", "trainer.max_epochs=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line.split("  ")[0] for line in result.stdout.splitlines() if line.startswith("epoch")] == \
        ["epoch 3/4", "epoch 4/4"]
    assert [int(row["epoch"]) for row in metrics_rows(run)] == [0, 1, 2, 3]
    assert status(run)["status"] == "finished" and status(run)["resumed_from"].endswith("last.ckpt")
    assert [path for path in (tmp_path / "runs").glob("*/*") if path.is_dir()] == [run]  # no new directory


def test_a_truncated_last_checkpoint_is_reported_and_the_best_one_used(tmp_path: Path):
    assert run_in_process("train", "trainer.max_epochs=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:100])
    result = run_in_process("train", "resume=run", "trainer.max_epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: run/checkpoints/last.ckpt cannot be read" in result.stdout
    assert "resuming from an earlier checkpoint" in result.stdout
    assert "resumed from   run/checkpoints/best.ckpt" in result.stdout


def test_a_checkpoint_write_that_fails_leaves_the_previous_one_whole(tmp_path: Path):
    path = tmp_path / "last.ckpt"
    writer = AtomicCheckpointIO()
    writer.save_checkpoint({"weights": torch.ones(3)}, path)

    class Unsavable:
        def __reduce__(self):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        writer.save_checkpoint({"weights": torch.zeros(3), "broken": Unsavable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.ones(3))
    assert [item.name for item in tmp_path.iterdir()] == ["last.ckpt"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _guarded_step(gradient: torch.Tensor) -> None:
    """DivergenceGuard's check before an optimizer step, with a weight holding `gradient`."""
    from types import SimpleNamespace

    from dltrain.callbacks import DivergenceGuard

    weight = torch.nn.Parameter(torch.zeros_like(gradient))
    weight.grad = gradient
    module = torch.nn.Linear(2, 2)
    module.weight = weight
    trainer = SimpleNamespace(precision="32-true", optimizers=[], current_epoch=4, global_step=99)
    guard = DivergenceGuard()
    guard.on_train_start(trainer, module)
    guard.on_before_optimizer_step(trainer, module, None)


def test_the_divergence_guard_stops_at_a_non_finite_gradient_norm_only():
    from dltrain.errors import Diverged

    for bad, shown in ((float("inf"), "inf"), (float("nan"), "nan"), (1e30, "inf")):  # 1e30: its norm overflows
        with pytest.raises(Diverged, match=rf"epoch 5, step 100: the gradient norm is {shown}"):
            _guarded_step(torch.tensor([[1.0, bad], [0.0, 2.0]]))
    _guarded_step(torch.full((2, 2), 1e15))


def test_on_a_gpu_the_divergence_guard_reads_its_verdict_with_the_step_logs():
    """Deferred (as on a GPU, where a read per step would stall it): a bad step is found at the next logging step
    or validation, a good run is never stopped."""
    from types import SimpleNamespace

    from dltrain.callbacks import DivergenceGuard
    from dltrain.errors import Diverged

    module = torch.nn.Linear(2, 1)
    trainer = SimpleNamespace(precision="bf16-mixed", optimizers=[], current_epoch=0, global_step=0,
                              log_every_n_steps=10)
    guard = DivergenceGuard(defer=True)
    guard.on_train_start(trainer, module)
    for step, bad in ((1, 0.0), (2, float("nan")), (3, 0.0)):
        trainer.global_step = step
        module.weight.grad = torch.full_like(module.weight, bad)
        guard.on_before_optimizer_step(trainer, module, None)
        guard.on_train_batch_end(trainer, module, {"loss": torch.tensor(1.0)}, None, step)
    with pytest.raises(Diverged, match="step 4: a gradient or the training loss became inf or nan in the last 10"):
        guard.on_validation_start(trainer, module)
    for bad_step in (None, 5):  # a finite run goes on through logging steps, validation and the epoch's end
        guard = DivergenceGuard(defer=True)
        guard.on_train_start(trainer, module)
        module.weight.grad = torch.ones_like(module.weight)
        for step in range(1, 10):
            trainer.global_step = step
            guard.on_before_optimizer_step(trainer, module, None)
            loss = torch.tensor(float("inf") if step == bad_step else 1.0)
            guard.on_train_batch_end(trainer, module, {"loss": loss}, None, step)
        trainer.global_step = 10
        with pytest.raises(Diverged, match="step 11") if bad_step else contextlib.nullcontext():
            guard.on_train_batch_end(trainer, module, {"loss": torch.tensor(1.0)}, None, 10)
            guard.on_validation_start(trainer, module)
            guard.on_train_epoch_end(trainer, module)


def test_a_deferred_divergence_check_stops_a_lightning_training_at_the_next_logging_step(tmp_path: Path):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from dltrain.callbacks import DivergenceGuard
    from dltrain.errors import Diverged

    class Exploding(pl.LightningModule):
        """Its loss turns infinite at step 13."""

        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_index):
            return self.layer(batch[0]).square().mean() * (math.inf if self.global_step >= 13 else 1.0)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(640, 4)), batch_size=8)

    trainer = pl.Trainer(max_epochs=1, callbacks=[DivergenceGuard(defer=True)], log_every_n_steps=10, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    with pytest.raises(Diverged, match="step 21: a gradient or the training loss became inf or nan in the last 10"):
        trainer.fit(Exploding())


def test_a_diverging_run_stops_with_exit_code_3_and_keeps_its_best_checkpoint(tmp_path: Path):
    # The learning rate jumps a hundred-million-fold after the first epoch.
    result = run_in_process("train", "model=mlp", "optimizer=sgd", "optimizer.lr=0.01", "scheduler=step",
                            "scheduler.step_size=1", "scheduler.gamma=1e8", "trainer.max_epochs=4", "hydra.run.dir=run",
                            cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]
    line = result.stderr.strip()
    assert line.startswith("error: training diverged at epoch 2, step ") and "\n" not in line
    assert "lower optimizer.lr (now 1e+06)" in line and "trainer.gradient_clip_val" in line
    run = tmp_path / "run"
    assert status(run)["status"] == "diverged" and not (run / "metrics.json").exists()
    assert run_in_process("eval", "run=run", cwd=tmp_path).returncode == 0


def test_two_runs_started_together_get_their_own_directories(tmp_path: Path):
    command = [sys.executable, "-m", "dltrain", "train", "debug=smoke"]
    processes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(2)]
    assert all(process.wait(timeout=300) == 0 for process in processes)
    runs = sorted(path for path in (tmp_path / "runs").glob("*/*") if path.is_dir())
    assert len(runs) == 2 and all(status(run)["status"] == "finished" for run in runs)


def test_claiming_a_directory_twice_in_one_second_gives_two(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "localtime", lambda *_: time.struct_time((2026, 11, 25, 10, 0, 0, 2, 329, 0)))
    first, second = claim_run_directory(), claim_run_directory()
    assert (first.name, second.name) == ("10-00-00", "10-00-00-2") and first.parent == second.parent


def test_overwrite_true_replaces_a_finished_run(tmp_path: Path):
    assert run_in_process("train", "debug=smoke", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    (tmp_path / "run" / "notes.txt").write_text("mine")
    result = run_in_process("train", "debug=smoke", "hydra.run.dir=run", "overwrite=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # only dltrain's own files are replaced
    assert status(tmp_path / "run")["status"] == "finished"


def test_out_of_memory_is_one_line_naming_the_batch_size(tmp_path: Path):
    result = run_in_process("train", "model._target_=tests.lifecycle_parts.OutOfMemoryNet", "data.batch_size=64",
                            "hydra.run.dir=run", cwd=tmp_path)
    assert_user_error(result, "out of memory with data.batch_size=64", "data.batch_size=32",
                      "trainer.accumulate_grad_batches=2")
    assert status(tmp_path / "run")["status"] == "failed"


def test_a_second_signal_is_not_held_back(tmp_path: Path):
    """The first signal waits for the step to end; the second goes straight to the handler that was there before
    (Python's, which raises KeyboardInterrupt for a second Ctrl-C)."""
    from dltrain.callbacks import GracefulStop

    seen: list[int] = []
    outer = signal.signal(signal.SIGUSR1, lambda number, frame: seen.append(number))
    stop = GracefulStop(tmp_path)
    try:
        stop.previous = {signal.SIGUSR1: signal.getsignal(signal.SIGUSR1)}
        signal.signal(signal.SIGUSR1, stop._receive)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.received == signal.SIGUSR1 and seen == []
        os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == [signal.SIGUSR1] and stop.previous == {}
    finally:
        signal.signal(signal.SIGUSR1, outer)
