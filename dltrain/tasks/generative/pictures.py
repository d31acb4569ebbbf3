"""Pictures an autoencoder's run leaves in its directory, since people would rather look than read:
reconstructions.png (rows: inputs | corrupted inputs | reconstructions) and, for models that generate,
samples/epoch_NNN.png every epoch from one fixed batch of codes (progress can be watched) and samples.png."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from dltrain.plots import save_grid

SAMPLE_SEED = 0


class Pictures(pl.Callback):
    """Written by the first process only; `count` examples per row. `reconstructions` for tasks that rebuild their
    inputs (they have `corrupt`), `samples` for those that generate (they have `sample(count, generator)`)."""

    def __init__(self, reconstructions: bool, samples: bool, count: int = 8) -> None:
        self.reconstructions, self.samples, self.count = reconstructions, samples, count
        self.codes_generator = torch.Generator().manual_seed(SAMPLE_SEED)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self.samples:
            return
        folder = Path(trainer.default_root_dir) / "samples"
        save_grid(self._samples(pl_module), folder / f"epoch_{trainer.current_epoch + 1:03d}.png", self.count)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        run = Path(trainer.default_root_dir)
        was_training = pl_module.training
        pl_module.eval()
        if self.reconstructions:
            save_grid(self._reconstructions(trainer, pl_module), run / "reconstructions.png", self.count)
        if self.samples:
            save_grid(self._samples(pl_module), run / "samples.png", self.count)
        pl_module.train(was_training)

    def _reconstructions(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> torch.Tensor:
        """The first validation images, their corrupted versions (denoising) and what the model rebuilds."""
        data = trainer.datamodule
        batch = data.on_after_batch_transfer(next(iter(data.val_dataloader())), 0)
        clean = batch[0][: self.count].to(pl_module.device)
        with torch.no_grad():
            corrupted = pl_module.corrupt(clean) if pl_module.corrupting else None
            rebuilt = pl_module.model(corrupted if corrupted is not None else clean)
        return torch.cat([clean, *([corrupted] if corrupted is not None else []), rebuilt])

    def _samples(self, pl_module: pl.LightningModule) -> torch.Tensor:
        """Decoded from the same codes every time: the generator restarts from its seed."""
        self.codes_generator.manual_seed(SAMPLE_SEED)
        with torch.no_grad():
            return pl_module.sample(self.count * self.count, self.codes_generator)
