"""Autoencoding: rebuild the inputs (labels unused). Deep and denoising autoencoders minimise the reconstruction
error, the denoising one from corrupted inputs to the clean ones (Vincent et al. 2008); the variational one
maximises the evidence lower bound (ELBO) of its Gaussian code (Kingma & Welling 2014)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional
from torchmetrics.image import PeakSignalNoiseRatio

from dltrain.errors import UserError
from dltrain.tasks.base import Task, computed

LOSSES = ("mse", "bce")


class AutoencoderTask(Task):
    """Reconstruction loss `mse` or `bce` (for inputs in [0, 1], e.g. images that are not normalized), from inputs
    corrupted by gaussian `noise` (its std) and/or zeroed at random with probability `mask` while training and
    evaluating; the target is always the clean input.

    Logs `<stage>/loss` and `<stage>/mse`; for images also `<stage>/psnr` (dB, pixel range 1) and, when inputs are
    corrupted, `<stage>/psnr_input`: the corrupted input's own PSNR, the figure the reconstruction has to beat.
    """

    # The model families (their modules' MODEL_KIND) this task can train.
    model_kinds = ("autoencoder", "vae")
    models_pixels = True
    step_figures = ("loss", "mse")

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None, input_kind: str | None = None, loss: str = "mse",
                 noise: float = 0.0, mask: float = 0.0) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        if loss not in LOSSES:
            raise UserError(f"task.loss={loss!r} is not a reconstruction loss", f"choose one of: {', '.join(LOSSES)}")
        if not noise >= 0:
            raise UserError(f"task.noise={noise} is invalid", "pass the std of the gaussian noise, >= 0 (0: none)")
        if not 0 <= mask < 1:
            raise UserError(f"task.mask={mask} is invalid", "pass the fraction of input values zeroed, in [0, 1)")
        if loss == "bce" and input_kind in ("rows", "clips", "signals"):
            raise UserError(f"task.loss=bce needs inputs in [0, 1], but {input_kind} are standardized",
                            "use task.loss=mse")
        self.loss_name, self.noise, self.mask = loss, float(noise), float(mask)
        self.images = input_kind == "images"
        self.psnr = nn.ModuleDict({f"{stage}_{which}": PeakSignalNoiseRatio(data_range=1.0)
                                   for stage in ("val", "test") for which in ("output", "input")})

    @property
    def corrupting(self) -> bool:
        return self.noise > 0 or self.mask > 0

    def corrupt(self, inputs: torch.Tensor) -> torch.Tensor:
        """The denoising autoencoder's input: gaussian noise added, then a fraction of the values zeroed; images stay
        in their [0, 1] range."""
        corrupted = inputs
        if self.noise:
            corrupted = corrupted + self.noise * torch.randn_like(corrupted)
            if self.images:
                corrupted = corrupted.clamp(0, 1)
        if self.mask:
            corrupted = corrupted * (torch.rand_like(corrupted) >= self.mask)
        return corrupted

    def reconstruction_error(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"
                             ) -> torch.Tensor:
        if outputs.shape != targets.shape:
            raise UserError(f"the model rebuilds inputs of shape {list(targets.shape[1:])} as "
                            f"{list(outputs.shape[1:])}", "an autoencoder must give back its input's shape")
        if self.loss_name == "mse":
            return functional.mse_loss(outputs, targets, reduction=reduction)
        if targets.min() < 0 or targets.max() > 1:
            raise UserError("task.loss=bce needs inputs in [0, 1], but these are standardized or normalized",
                            "use task.loss=mse, or data.normalize=null for images")
        return functional.binary_cross_entropy(outputs.clamp(1e-6, 1 - 1e-6), targets, reduction=reduction)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        clean = batch[0]
        corrupted = self.corrupt(clean) if self.corrupting else clean
        loss, outputs = self.compute_loss(corrupted, clean, stage)
        self.log_batch(stage, {"loss": loss, "mse": functional.mse_loss(outputs.detach(), clean)}, len(clean))
        if self.images and stage != "train":
            loop = "test" if self.trainer.testing else "val"
            self.psnr[f"{loop}_output"].update(outputs.detach().clamp(0, 1), clean)
            if self.corrupting:
                self.psnr[f"{loop}_input"].update(corrupted.clamp(0, 1), clean)
        return loss

    def compute_loss(self, corrupted: torch.Tensor, clean: torch.Tensor, stage: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss to minimise and the reconstruction it comes from."""
        outputs = self.model(corrupted)
        return self.reconstruction_error(outputs, clean), outputs

    def loop_figures(self, loop: str) -> dict[str, Any]:
        """PSNR of the reconstructions (and of the corrupted inputs) over the evaluation loop's images."""
        if loop == "train" or not self.images:
            return {}
        figures = {"psnr": self.psnr[f"{loop}_output"]}
        if self.corrupting:
            figures["psnr_input"] = self.psnr[f"{loop}_input"]
        return {name: computed(metric) for name, metric in figures.items()}

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        penalties = self.penalties()
        if penalties:
            self.log_batch("train", penalties, len(batch[0]))
        return loss + sum(penalties.values())

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> None:
        self._step(batch, self.eval_stage)

    def configure_callbacks(self) -> list[pl.Callback]:
        from dltrain.tasks.generative.pictures import Pictures

        return [Pictures(reconstructions=True, samples=hasattr(self, "sample"))] if self.images else []


class VAETask(AutoencoderTask):
    """The negative ELBO per example: the reconstruction's negative log-likelihood (`bce`: Bernoulli pixels; `mse`:
    Gaussian of unit variance, up to a constant) plus `kl_weight` times the KL divergence of the code's Gaussian from
    N(0, I). The KL weight rises linearly from 0 over the first `kl_warmup_epochs` epochs (0: none), which keeps
    the code from collapsing early. Logs `<stage>/loss`, `/reconstruction`, `/kl` and `/elbo` (at full KL weight,
    in nats per example)."""

    model_kinds = ("vae",)
    step_figures = ("loss", "mse", "reconstruction", "kl", "elbo")

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None, input_kind: str | None = None, loss: str = "bce",
                 noise: float = 0.0, mask: float = 0.0, kl_weight: float = 1.0, kl_warmup_epochs: int = 0) -> None:
        super().__init__(model, optimizer, scheduler, regularization, input_kind, loss, noise, mask)
        if not kl_weight >= 0:
            raise UserError(f"task.kl_weight={kl_weight} is invalid", "pass a weight >= 0 (1: the true ELBO)")
        if not (isinstance(kl_warmup_epochs, int) and kl_warmup_epochs >= 0):
            raise UserError(f"task.kl_warmup_epochs={kl_warmup_epochs} is invalid",
                            "pass a whole number of epochs >= 0")
        self.kl_weight, self.kl_warmup_epochs = float(kl_weight), kl_warmup_epochs

    def current_kl_weight(self, stage: str) -> float:
        if stage != "train" or not self.kl_warmup_epochs:
            return self.kl_weight
        return self.kl_weight * min(1.0, (self.current_epoch + 1) / (self.kl_warmup_epochs + 1))

    def compute_loss(self, corrupted: torch.Tensor, clean: torch.Tensor, stage: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_variance = self.model.distribution(corrupted)
        codes = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
        outputs = self.model.decode(codes)
        size = len(clean)
        error = self.reconstruction_error(outputs, clean, reduction="sum")
        reconstruction = (0.5 * error if self.loss_name == "mse" else error) / size
        kl = -0.5 * torch.sum(1 + log_variance - mean.pow(2) - log_variance.exp()) / size
        self.log_batch(stage, {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}, size)
        return reconstruction + self.current_kl_weight(stage) * kl, outputs

    def sample(self, count: int, generator: torch.Generator, labels: None = None) -> torch.Tensor:
        """`count` new examples decoded from codes drawn from N(0, I) with `generator` (a VAE has no classes to ask
        for: `labels` is there so that every generating task is called alike)."""
        codes = torch.randn(count, self.model.latent_dim, generator=generator).to(self.device)
        return self.model.decode(codes)
