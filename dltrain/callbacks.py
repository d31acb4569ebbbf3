"""The per-epoch metrics table of a run directory (metrics.csv): one row per epoch, whatever the loggers."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytorch_lightning as pl

from dltrain.files import write_text_atomic


class EpochMetricsCSV(pl.Callback):
    """Writes every epoch-level metric and the learning rate as one row per epoch to `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float | int]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, float | int] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if trainer.optimizers:
            row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        for name, value in sorted(trainer.callback_metrics.items()):
            if name.endswith("_step") or value.numel() != 1:
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
            writer.writerow({key: _format(value) for key, value in row.items()})
        write_text_atomic(self.path, buffer.getvalue())


def _format(value: float | int) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)
