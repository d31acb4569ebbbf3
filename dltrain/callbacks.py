"""Callbacks every run gets, whatever the config: the per-epoch metrics table, checkpoint metadata and the
console's epoch lines."""

from __future__ import annotations

import csv
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint

from dltrain import __version__
from dltrain.checkpoints import METADATA_KEY
from dltrain.console import epoch_figures, epoch_line
from dltrain.errors import Diverged, Interrupted, UserError, suggestion
from dltrain.files import add_csv_rows, write_atomic

log = logging.getLogger(__name__)


class EpochReport(pl.Callback):
    """A callback that reports each epoch's figures: the epoch-level ones in `trainer.callback_metrics`, where
    Lightning keeps the last validation's figures until the next one; an epoch that ran none (trainer.max_steps
    cut it short, check_val_every_n_epoch > 1) reports no validation figures."""

    validated_epoch: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validated_epoch = trainer.current_epoch

    def epoch_metrics(self, trainer: pl.Trainer) -> dict[str, float]:
        validated = self.validated_epoch == trainer.current_epoch
        return {name.removesuffix("_epoch"): float(value) for name, value in sorted(trainer.callback_metrics.items())
                if not name.endswith("_step") and not name.startswith("lr-") and value.numel() == 1
                and (validated or not name.startswith("val/"))}


class EpochMetricsCSV(EpochReport):
    """Writes every epoch-level metric and the learning rate the epoch trained with as one row per epoch, appended
    to the run's metrics.csv."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float | int]] = []
        self.columns: list[str] = []
        self.written = False
        self.epoch_lr: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A resumed run keeps the rows of the epochs it does not train again (and, resumed in the middle of an
        epoch, that epoch's learning rate, restored with the optimizer)."""
        self.on_train_epoch_start(trainer, pl_module)
        if trainer.current_epoch > 0 and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as handle:
                self.rows = [{key: float(value) if value else value for key, value in row.items()}
                             for row in csv.DictReader(handle) if int(row["epoch"]) < trainer.current_epoch]
            for row in self.rows:
                row["epoch"], row["step"] = int(row["epoch"]), int(row["step"])
            self.columns = list(dict.fromkeys(key for row in self.rows for key in row))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return

        row: dict[str, float | int] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if self.epoch_lr is not None:
            row["lr"] = self.epoch_lr
        row.update(self.epoch_metrics(trainer))
        self.rows.append(row)
        new_columns = [key for key in row if key not in self.columns]
        self.columns += new_columns
        add_csv_rows(self.path, [row], self.rows, self.columns, rewrite=bool(new_columns) or not self.written)
        self.written = True


class RunMetadata(pl.Callback):
    """Stores the run's resolved config, class names and data spec in every checkpoint, as plain containers
    (checkpoints load with weights_only=True), so eval/export/predict rebuild the model from the file alone."""

    def __init__(self, config: dict[str, Any], class_names: list[str], spec: dict[str, Any]) -> None:
        self.metadata = {"config": config, "class_names": list(class_names), "spec": dict(spec),
                         "version": __version__}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[METADATA_KEY] = self.metadata


class EpochProgress(EpochReport):
    """One console line per epoch (the training loss, the validation metrics, the time, whether the checkpoint
    improved) in place of Lightning's progress bar; on a terminal, a batch counter that the line replaces."""

    def __init__(self, refresh_seconds: float = 0.5) -> None:
        self.refresh_seconds = refresh_seconds
        self.started = self.last_refresh = 0.0
        self.best: float | None = None
        self.live = sys.stdout.isatty()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A resumed run starts from the best score its checkpoint callback remembers. Resumed in the middle of an
        epoch, no epoch start is called for it: its time counts from here."""
        self.started = self.last_refresh = time.perf_counter()
        checkpointing = trainer.checkpoint_callback
        score = getattr(checkpointing, "best_model_score", None)
        if score is not None:
            self.best = _lower_is_better(float(score), checkpointing.mode)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = self.last_refresh = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        now = time.perf_counter()
        if self.live and trainer.is_global_zero and now - self.last_refresh >= self.refresh_seconds:
            self.last_refresh = now
            total = trainer.num_training_batches
            of = f"/{total}" if isinstance(total, int) else ""
            epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
            sys.stdout.write(f"\repoch {trainer.current_epoch + 1}{epochs}  batch {batch_index + 1}{of}\033[K")
            sys.stdout.flush()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self.live:
            sys.stdout.write("\r\033[K")
        metrics = self.epoch_metrics(trainer)
        log.info(epoch_line(trainer.current_epoch + 1, trainer.max_epochs or -1, epoch_figures(metrics),
                            time.perf_counter() - self.started, self._improved(trainer, metrics)))

    def _improved(self, trainer: pl.Trainer, metrics: dict[str, float]) -> bool:
        """Whether the checkpoint's monitored metric is the best so far (the checkpoint callback itself runs after
        this one, so its own record is an epoch behind)."""
        checkpointing = trainer.checkpoint_callback
        monitor = getattr(checkpointing, "monitor", None)
        if monitor not in metrics:
            return False
        value = _lower_is_better(metrics[monitor], checkpointing.mode)
        if self.best is not None and value >= self.best:
            return False
        self.best = value
        return True


def _lower_is_better(value: float, mode: str) -> float:
    return value if mode == "min" else -value


class RandomState(pl.Callback):
    """Every random generator a run draws from (torch's, CUDA's, numpy's, Python's) saved in each checkpoint and
    restored on resume: Lightning restores none of them, and without them a resumed run is a different run."""

    def state_dict(self) -> dict[str, Any]:
        import random

        import numpy as np

        kind, keys, position, has_gauss, cached = np.random.get_state()
        version, state, gauss = random.getstate()
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                          "has_gauss": int(has_gauss), "cached": float(cached)},
                "python": {"version": version, "state": list(state), "gauss": gauss}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import random

        import numpy as np

        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        saved = state["numpy"]
        np.random.set_state((saved["kind"], saved["keys"].numpy().astype(np.uint32), saved["position"],
                             saved["has_gauss"], saved["cached"]))
        python = state["python"]
        random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file beside their target and renamed over it: a kill mid-write leaves
    the previous checkpoint whole (Lightning's own writer stages in $TMPDIR, possibly another filesystem)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        write_atomic(path, lambda temporary: _save_synced(checkpoint, temporary))


def _save_synced(checkpoint: dict[str, Any], path: Path) -> None:
    with open(path, "wb") as handle:
        torch.save(checkpoint, handle)
        handle.flush()
        os.fsync(handle.fileno())


class MonitoredFigureCheck(EpochReport):
    """Every monitoring callback (best.ckpt, early stopping) must follow a figure the run logs: Lightning would
    otherwise stop at the first epoch's end with a traceback. One line instead, naming the figures there are.
    Checked after the first validation (training figures are not among the metrics then, so train/* waits) and at
    the end of the first validated epoch. `monitors` maps each callback's config key to the callback, whose monitor
    is read then (a task may have changed it)."""

    def __init__(self, monitors: dict[str, Any]) -> None:
        self.monitors = monitors

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if self.validated_epoch is not None:
            self._check(trainer, training_figures=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.validated_epoch == trainer.current_epoch and self.monitors:
            self._check(trainer, training_figures=True)
            self.monitors = {}

    def _check(self, trainer: pl.Trainer, training_figures: bool) -> None:
        logged = trainer.callback_metrics
        for key, callback in self.monitors.items():
            monitor = getattr(callback, "monitor", None)
            if monitor is None or monitor in logged or (monitor.startswith("train/") and not training_figures):
                continue
            figures = sorted(name for name in logged if not name.endswith("_step") and not name.startswith("lr-"))
            hint = suggestion(monitor, figures)
            raise UserError(f"{key}={monitor} is not a figure this run logs",
                            f"{hint + ' ' if hint else ''}choose one of: {', '.join(figures)}")


class DivergenceGuard(pl.Callback):
    """Stops a run at the first non-finite gradient or training loss, with one line naming the epoch and step; the
    checkpoints written so far stay as they were.

    On a CPU each step is checked before the optimizer applies its gradients. On a GPU, reading a value back waits
    for every kernel queued so far: a read per step would leave the GPU idle while Python prepares each next step.
    There (`defer`) each step's verdict is folded into a flag that stays on the device, read every
    trainer.log_every_n_steps steps (when Lightning waits for the GPU to log anyway), before each validation and at
    each epoch's end: a diverging run stops at most that many steps late, before anything is saved from it."""

    def __init__(self, defer: bool | None = None) -> None:
        self.defer = defer  # None: when the model is not on the CPU
        self.parameters: list[torch.nn.Parameter] = []
        self.unread: torch.Tensor | None = None  # deferred: whether a step since the last read went non-finite

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The parameters are listed once: walking the modules at every step cost more than the check itself."""
        self.parameters = list(pl_module.parameters())
        device = self.parameters[0].device if self.parameters else torch.device("cpu")
        defer = device.type != "cpu" if self.defer is None else self.defer
        self.unread = torch.zeros((), dtype=torch.bool, device=device) if defer else None

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        """The sum of the gradients' norms, which is finite only if every gradient is: the fewest small ops (each
        costs tens of microseconds between a small model's steps; a test per norm took 1.3x as long, torch's
        get_total_norm twice). A sum that overflows float32 (gradients past ~1e19) counts as divergence too."""
        if str(trainer.precision).startswith("16"):
            return  # float16's loss scaler skips steps with inf gradients by design
        gradients = [parameter.grad for parameter in self.parameters if parameter.grad is not None]
        if not gradients:
            return
        total = torch.stack(torch._foreach_norm(gradients)).sum()
        if self.unread is not None:
            self.unread.logical_or_(total.isfinite().logical_not())
        elif not math.isfinite(total.item()):
            self._stop(trainer, f"the gradient norm is {total.item()}")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        checkable = isinstance(loss, torch.Tensor) and loss.numel() == 1
        if self.unread is None:
            if checkable and not math.isfinite(loss.item()):
                self._stop(trainer, f"the training loss is {loss.item()}")
            return
        if checkable:
            self.unread.logical_or_(loss.detach().isfinite().logical_not().reshape(()))
        if trainer.global_step % max(trainer.log_every_n_steps, 1) == 0:
            self._read(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._read(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._read(trainer)

    def _read(self, trainer: pl.Trainer) -> None:
        if self.unread is not None and bool(self.unread):
            self._stop(trainer, f"a gradient or the training loss became inf or nan in the last "
                                f"{trainer.log_every_n_steps} steps")

    def _stop(self, trainer: pl.Trainer, what: str) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        raise Diverged(f"training diverged at epoch {trainer.current_epoch + 1}, step {trainer.global_step + 1}: "
                       f"{what}; the best checkpoint so far is kept",
                       f"lower optimizer.lr{f' (now {lr:g})' if lr is not None else ''} or clip gradients with "
                       "trainer.gradient_clip_val=1.0")


class LastCheckpoint(ModelCheckpoint):
    """checkpoints/last.ckpt, what resume= continues from, written at the end of an epoch once `every_seconds` have
    passed since it was last written (0: every epoch), and always after the run's last epoch; GracefulStop writes it
    on Ctrl-C and SIGTERM. A write costs ~6 ms for LeNet-5, a few percent of its epoch when done every epoch; a
    kill loses at most `every_seconds` of training. (Lightning's own `save_last` only writes it in epochs whose
    monitored metric improved.) As a ModelCheckpoint it runs after every other callback, so what it saves includes
    their state at the end of the epoch (early stopping's count, the best score)."""

    def __init__(self, folder: Path, every_seconds: float) -> None:
        super().__init__(dirpath=folder, filename="last", monitor=None, save_top_k=1, save_last=False,
                         enable_version_counter=False, save_on_train_epoch_end=True)
        self.every_seconds = every_seconds
        self.written_at = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._last_epoch(trainer) or time.monotonic() - self.written_at >= self.every_seconds:
            super().on_train_epoch_end(trainer, pl_module)
            self.written_at = time.monotonic()

    @staticmethod
    def _last_epoch(trainer: pl.Trainer) -> bool:
        """Whether training stops after this epoch: early stopping decided so, or the epoch or step limit is reached."""
        epochs, steps = trainer.max_epochs, trainer.max_steps
        return (trainer.should_stop or (epochs is not None and 0 <= epochs <= trainer.current_epoch + 1)
                or (steps is not None and 0 <= steps <= trainer.global_step))


class GracefulStop(pl.Callback):
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler's pre-emption) finish the current step, save checkpoints/last.ckpt
    and stop the run with a line naming the resume command; a second signal stops at once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._receive)
                             for number in (signal.SIGINT, signal.SIGTERM)}

    def _receive(self, number: int, frame: Any) -> None:
        import signal

        if self.received is not None:  # the second one: no more waiting
            self._restore()
            signal.raise_signal(number)
            return
        self.received = number

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        """After an epoch's last batch the stop waits for the epoch's end (validation, its metrics row and
        last.ckpt): a checkpoint taken between the two would resume into the next epoch without them."""
        if self.received is not None and batch_index + 1 < trainer.num_training_batches:
            trainer.save_checkpoint(self.folder / "last.ckpt")
            self._stop(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.received is not None:  # last.ckpt was written at the end of the epoch before
            self._stop(trainer)

    def _stop(self, trainer: pl.Trainer) -> None:
        import signal

        last = self.folder / "last.ckpt"
        name = signal.Signals(self.received).name
        raise Interrupted(f"stopped by {name} at epoch {trainer.current_epoch + 1}, step {trainer.global_step}; "
                          f"{last} is saved", f"continue with: dltrain train resume={self.folder.parent}",
                          exit_code=128 + self.received)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore()

    def _restore(self) -> None:
        import signal

        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}
