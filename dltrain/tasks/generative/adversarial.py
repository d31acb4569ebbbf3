"""Generative adversarial training (Goodfellow et al. 2014) of a generator against a discriminator, each with its own
optimizer: Lightning's manual optimization, one discriminator step then one generator step per batch."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional

from dltrain.errors import UserError
from dltrain.optim import build_optimizer, build_scheduler
from dltrain.tasks.base import Task


class GANTask(Task):
    """The non-saturating losses: the discriminator learns real -> 1 (`label_smoothing` lowers that target, e.g.
    0.1 -> 0.9) and generated -> 0, the generator to make the discriminator say 1. `generator_optimizer` and
    `discriminator_optimizer` are changes to the optimizer group's config for each (null: as it is).

    A GAN's losses say little of its samples' quality, so it monitors nothing: best.ckpt is the latest epoch and early
    stopping is off; `dltrain eval judge=` measures the samples. Logs `train/d_loss`, `train/g_loss`, and the
    discriminator's mean verdict on real and generated images (`<stage>/d_real`, `<stage>/d_fake`) on train and val.
    """

    model_kinds = ("gan",)
    models_pixels = True
    # What early stopping and best.ckpt follow: nothing (see above).
    monitor = None
    step_figures = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None, num_classes: int | None = None,
                 generator_optimizer: dict[str, Any] | None = None,
                 discriminator_optimizer: dict[str, Any] | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        if not 0 <= label_smoothing < 0.5:
            raise UserError(f"task.label_smoothing={label_smoothing} is invalid",
                            "pass how much to lower the real images' target, in [0, 0.5), e.g. 0.1")
        self.automatic_optimization = False
        self.optimizers_config = {"generator": {**optimizer, **(generator_optimizer or {})},
                                  "discriminator": {**optimizer, **(discriminator_optimizer or {})}}
        self.real_target = 1.0 - label_smoothing

    def configure_optimizers(self) -> Any:
        steps = self.trainer.estimated_stepping_batches
        pairs = []
        for part in ("discriminator", "generator"):
            optimizer = build_optimizer(self.optimizers_config[part], getattr(self.model, part).parameters())
            pairs.append((optimizer, build_scheduler(self.scheduler_config, optimizer, steps)))
        optimizers = [optimizer for optimizer, _ in pairs]
        schedulers = [schedule for _, schedule in pairs if schedule is not None]
        return optimizers, schedulers

    def codes(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(count, self.model.latent_dim, generator=generator, device=self.device if generator is None
                           else "cpu").to(self.device)

    def sample(self, count: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """`count` generated images; a conditional model's classes cycle through all of them unless `labels`."""
        if self.model.conditional and labels is None:
            labels = torch.arange(count, device=self.device) % self.model.num_classes
        return self.model(self.codes(count, generator), labels)

    def _verdicts(self, real: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor | None]:
        """The discriminator's logits for the real images, generated images, and what those are conditioned on:
        the real images' classes (class-conditional), the clusters their codes pick (self-conditioned), or nothing."""
        codes = self.codes(len(real))
        if self.model.clusters:
            real_conditions, fake_conditions = self.model.clusters_of_images(real), self.model.clusters_of_codes(codes)
        else:
            real_conditions = fake_conditions = labels  # None unless class-conditional: the steps pass no labels
        fake = self.model.generator(codes, fake_conditions)
        return self.model.discriminator(real, real_conditions), fake, fake_conditions

    def on_fit_start(self) -> None:
        """A self-conditioned model's clusters are fitted once, before its first step (a resumed run has them)."""
        if self.model.clusters and not bool(self.model.cluster_shares.sum() > 0):
            centres, shares = self.trainer.strategy.broadcast(self._fitted_clusters(), src=0)
            self.model.cluster_centres.copy_(centres.to(self.device))
            self.model.cluster_shares.copy_(shares.to(self.device))

    def _fitted_clusters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """k-means centres of the training images as the discriminator sees them (without augmentation), and each
        cluster's share of the images. Other processes of a distributed run take rank 0's."""
        from sklearn.cluster import KMeans

        data = self.trainer.datamodule
        pipeline = getattr(data, "pipeline", None)
        images = torch.cat([(pipeline(inputs, training=False) if pipeline is not None else inputs).float().cpu()
                            for inputs, *_ in data.loader("train")])
        if len(images) < self.model.clusters:
            raise UserError(f"model.clusters={self.model.clusters} but the training split has {len(images)} images",
                            "use fewer clusters than training images, e.g. model.clusters=10")
        kmeans = KMeans(self.model.clusters, n_init=4, random_state=getattr(data, "seed", 0))
        assigned = torch.from_numpy(kmeans.fit_predict(images.flatten(1).numpy())).long()
        centres = torch.from_numpy(kmeans.cluster_centers_).float().view(-1, *images.shape[1:])
        return centres, torch.bincount(assigned, minlength=self.model.clusters).float() / len(assigned)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> None:
        real, labels = batch[0], batch[1] if self.model.conditional else None
        d_optimizer, g_optimizer = self.optimizers()
        size = len(real)

        real_logits, fake, fake_labels = self._verdicts(real, labels)
        fake_logits = self.model.discriminator(fake.detach(), fake_labels)
        d_loss = (functional.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits,
                                                                                          self.real_target))
                  + functional.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_optimizer.zero_grad()
        self.manual_backward(d_loss)
        d_optimizer.step()

        verdict = self.model.discriminator(fake, fake_labels)
        g_loss = functional.binary_cross_entropy_with_logits(verdict, torch.ones_like(verdict))
        penalties = self.penalties()
        g_optimizer.zero_grad()
        self.manual_backward(g_loss + sum(penalties.values()))
        g_optimizer.step()
        self.step_schedulers("step")

        self.log_batch("train", {"d_loss": d_loss, "g_loss": g_loss, "d_real": torch.sigmoid(real_logits).mean(),
                                 "d_fake": torch.sigmoid(fake_logits).mean(), **penalties}, size)

    def on_train_epoch_end(self) -> None:
        self.step_schedulers("epoch")
        super().on_train_epoch_end()

    def _evaluate(self, batch: tuple[torch.Tensor, ...], stage: str) -> None:
        real, labels = batch[0], batch[1] if self.model.conditional else None
        real_logits, fake, fake_labels = self._verdicts(real, labels)
        fake_logits = self.model.discriminator(fake, fake_labels)
        verdicts = {"d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}
        self.log_batch(stage, verdicts, len(real))

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_index: int) -> None:
        self._evaluate(batch, self.eval_stage)

    def configure_callbacks(self) -> list[pl.Callback]:
        from dltrain.tasks.generative.pictures import Pictures

        return [Pictures(reconstructions=False, samples=True)]
