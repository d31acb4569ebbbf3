"""Empty per-batch hooks are taken out of Lightning's way; the ones that do work stay."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from dltrain.batch_hooks import skip_empty_batch_hooks
from dltrain.callbacks import DivergenceGuard, LastCheckpoint


class Module(pl.LightningModule):
    def on_after_backward(self) -> None:
        self.seen = True


def test_only_the_empty_per_batch_hooks_are_skipped(tmp_path: Path):
    guard, last = DivergenceGuard(), LastCheckpoint(tmp_path, 60)
    every_ten_steps = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=10)
    module = Module()
    skip_empty_batch_hooks(SimpleNamespace(callbacks=[guard, last, every_ten_steps]), module)
    assert guard.on_train_batch_start is None and guard.on_validation_batch_end is None
    assert callable(guard.on_before_optimizer_step) and callable(guard.on_train_batch_end)
    assert last.on_train_batch_end is None and callable(last.on_train_epoch_end)
    assert callable(every_ten_steps.on_train_batch_end)
    assert module.on_before_backward is None and callable(module.on_after_backward)
    # The evaluation loops read the module's evaluation hooks' signatures: they stay.
    assert callable(module.on_validation_batch_end) and callable(module.on_test_batch_start)
