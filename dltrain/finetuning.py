"""Training a transferred model with part of it frozen: a Lightning callback."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from torch import nn

from dltrain.errors import UserError

log = logging.getLogger(__name__)


class FrozenBackbone(pl.Callback):
    """Keeps `parameters` fixed and `batch_norms` in eval mode (normalizing with the source's running
    statistics rather than the few new examples' batch statistics) until epoch `unfreeze_at_epoch`, from which
    everything trains. Lightning restores each module's mode after validation, so setting it once an epoch holds."""

    def __init__(self, parameters: list[nn.Parameter], batch_norms: list[nn.Module],
                 unfreeze_at_epoch: int | None = None) -> None:
        self.parameters, self.batch_norms = parameters, batch_norms
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.frozen = False

    def check(self, trainer: pl.Trainer) -> None:
        """Before training starts (and before DDP starts more processes): DDP syncs only the parameters that
        train from its start, so unfreezing later cannot work there."""
        if self.unfreeze_at_epoch is not None and trainer.world_size > 1:
            raise UserError("unfreeze_at_epoch cannot be used with several processes: DDP syncs only the "
                            "parameters that train from the start", "train on one device (trainer.devices=1), or "
                            "use freeze=none with backbone_lr_scale")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for parameter in self.parameters:
            parameter.requires_grad_(False)
        self.frozen = True

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.frozen:
            return
        if self.unfreeze_at_epoch is not None and trainer.current_epoch >= self.unfreeze_at_epoch:
            for parameter in self.parameters:
                parameter.requires_grad_(True)
            for norm in self.batch_norms:
                norm.train()
            self.frozen = False
            log.info("epoch %d: the backbone is unfrozen and trains from now on", trainer.current_epoch)
            return
        for norm in self.batch_norms:
            norm.eval()
