"""Pieces the lifecycle tests plug into real runs by `_target_`: a signal sent at a chosen step, once, and a model
that runs out of memory."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn


class SignalOnce(pl.Callback):
    """Sends this process `signal_name` after batch `batch` of epoch `epoch`, unless `marker` exists (it makes it):
    the resumed run, which keeps the same callbacks, is not stopped again."""

    def __init__(self, marker: str, epoch: int = 2, batch: int = 5, signal_name: str = "SIGTERM") -> None:
        self.marker, self.epoch, self.batch = Path(marker), epoch, batch
        self.number = signal.Signals[signal_name]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index: int) -> None:
        if (trainer.current_epoch, batch_index) == (self.epoch, self.batch) and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), self.number)


class OutOfMemoryNet(nn.Module):
    """Fails as a GPU does when a batch does not fit."""

    def __init__(self, num_classes: int, in_channels: int = 1, input_size=(8, 8), **options) -> None:
        super().__init__()
        self.layer = nn.Linear(1, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
