"""Per-batch hooks that do nothing, taken out of Lightning's way.

At every training step Lightning calls six hooks (on_train_batch_start ... on_train_batch_end) on every callback and
on the module, whether or not they are overridden: each call builds a profiler context and an action name (for a
ModelCheckpoint a repr of its settings), 2-4 us. With a run's ten callbacks that came to ~150 us a step: 15% of a
step of the default MLP on a table, 1-3% of a LeNet-5 step. Lightning skips a hook attribute that is not callable,
so the empty ones are set to None on the instances; everything that does work still runs.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

TRAINING_STEP_HOOKS = ("on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward",
                       "on_before_optimizer_step", "on_before_zero_grad")
# The evaluation loops read the module's own evaluation batch hooks' signatures: those stay on the module.
CALLBACK_HOOKS = (*TRAINING_STEP_HOOKS, "on_validation_batch_start", "on_validation_batch_end", "on_test_batch_start",
                  "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end")


def skip_empty_batch_hooks(trainer: pl.Trainer, module: pl.LightningModule) -> None:
    """Set the per-batch hooks that the callbacks' classes (and the training-step hooks that the module's class) leave
    as Lightning's empty defaults to None; also a ModelCheckpoint's on_train_batch_end when it saves only at epoch
    ends."""
    for callback in trainer.callbacks:
        _skip_inherited(callback, pl.Callback, CALLBACK_HOOKS)
        if isinstance(callback, ModelCheckpoint) and _saves_at_epoch_ends_only(callback):
            callback.on_train_batch_end = None
    _skip_inherited(module, pl.LightningModule, TRAINING_STEP_HOOKS)


def _skip_inherited(instance: Any, base: type, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(type(instance), name, None) is getattr(base, name):
            setattr(instance, name, None)


def _saves_at_epoch_ends_only(checkpoint: ModelCheckpoint) -> bool:
    """Without every_n_train_steps and train_time_interval, ModelCheckpoint's on_train_batch_end only decides not to
    save. (Read from its attributes; should Lightning rename them, the hook stays.)"""
    return (getattr(checkpoint, "_every_n_train_steps", 1) == 0
            and getattr(checkpoint, "_train_time_interval", 0) is None)
