"""Callbacks every run gets, whatever the config: the per-epoch metrics table and checkpoint metadata."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from dltrain import __version__
from dltrain.checkpoints import METADATA_KEY
from dltrain.files import write_text_atomic


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
