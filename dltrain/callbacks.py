"""Callbacks every run gets, whatever the config: the per-epoch metrics table, checkpoint metadata and the
console's epoch lines."""

from __future__ import annotations

import csv
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from dltrain import __version__
from dltrain.checkpoints import METADATA_KEY
from dltrain.console import epoch_figures, epoch_line
from dltrain.files import write_text_atomic

log = logging.getLogger(__name__)


class EpochMetricsCSV(pl.Callback):
    """Writes every epoch-level metric and the learning rate the epoch trained with as one row per epoch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float | int]] = []
        self.epoch_lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, float | int] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if self.epoch_lr is not None:
            row["lr"] = self.epoch_lr
        for name, value in sorted(trainer.callback_metrics.items()):
            if name.endswith("_step") or name.startswith("lr-") or value.numel() != 1:
                continue
            row[name.removesuffix("_epoch")] = float(value)
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow(row)
        write_text_atomic(self.path, buffer.getvalue())


class RunMetadata(pl.Callback):
    """Stores the run's resolved config, class names and data spec in every checkpoint, as plain containers
    (checkpoints load with weights_only=True), so eval/export/predict rebuild the model from the file alone."""

    def __init__(self, config: dict[str, Any], class_names: list[str], spec: dict[str, Any]) -> None:
        self.metadata = {"config": config, "class_names": list(class_names), "spec": dict(spec),
                         "version": __version__}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[METADATA_KEY] = self.metadata


class EpochProgress(pl.Callback):
    """One console line per epoch (the training loss, the validation metrics, the time, whether the checkpoint
    improved) in place of Lightning's progress bar; on a terminal, a batch counter that the line replaces."""

    def __init__(self, refresh_seconds: float = 0.5) -> None:
        self.refresh_seconds = refresh_seconds
        self.started = self.last_refresh = 0.0
        self.best: float | None = None
        self.live = sys.stdout.isatty()

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
        metrics = {name.removesuffix("_epoch"): float(value) for name, value in sorted(trainer.callback_metrics.items())
                   if not name.endswith("_step") and value.numel() == 1}
        log.info(epoch_line(trainer.current_epoch + 1, trainer.max_epochs or -1, epoch_figures(metrics),
                            time.perf_counter() - self.started, self._improved(trainer, metrics)))

    def _improved(self, trainer: pl.Trainer, metrics: dict[str, float]) -> bool:
        """Whether the checkpoint's monitored metric is the best so far (the checkpoint callback itself runs after
        this one, so its own record is an epoch behind)."""
        checkpointing = trainer.checkpoint_callback
        monitor = getattr(checkpointing, "monitor", None)
        if monitor not in metrics:
            return False
        value = metrics[monitor] if checkpointing.mode == "min" else -metrics[monitor]
        if self.best is not None and value >= self.best:
            return False
        self.best = value
        return True
