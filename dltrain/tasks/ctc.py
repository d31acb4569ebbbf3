"""Speech to text: per-frame character logits trained with CTC loss, greedy decoding, CER and WER."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn import functional
from torchmetrics.text import CharErrorRate, WordErrorRate

from dltrain.decoding import BLANK_ID, spell, transcripts
from dltrain.tasks.base import Task, computed

log = logging.getLogger(__name__)


class CTCTask(Task):
    """Trains `model` (N x 1 x frames x features -> N x frames x classes; a recurrent model with
    `pooling: none`) on targets of character ids (N x L, 0-padded) with connectionist temporal classification.

    Logs `<stage>/loss` and, outside training, `<stage>/cer` and `<stage>/wer` (character and word error
    rates of the greedy transcripts, torchmetrics). `class_names` is the alphabet, blank first.
    """

    # The model families (their modules' MODEL_KIND) this task can train.
    model_kinds = ("classifier",)

    def __init__(self, model: nn.Module, num_classes: int, class_names: list[str], optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, regularization: dict[str, float] | None = None) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        self.alphabet = list(class_names)
        if len(self.alphabet) != num_classes:
            raise ValueError(f"the alphabet has {len(self.alphabet)} symbols but the model {num_classes} outputs")
        self.error_rates = nn.ModuleDict({stage: nn.ModuleDict({"cer": CharErrorRate(), "wer": WordErrorRate()})
                                          for stage in ("val", "test")})

    def on_fit_start(self) -> None:
        """CUDA's CTC backward has no deterministic kernel: under `trainer.deterministic=true` it would stop the
        run, so on a GPU that one op is allowed to be nondeterministic (with a warning), the rest stays exact."""
        if self.device.type == "cuda" and torch.are_deterministic_algorithms_enabled() \
                and not torch.is_deterministic_algorithms_warn_only_enabled():
            log.warning("task=ctc on a GPU: CTC loss backward is not deterministic there; other ops still are")
            torch.use_deterministic_algorithms(True, warn_only=True)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 3:
            raise ValueError("task=ctc needs per-frame outputs (N x frames x classes): set model.pooling=none")
        log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)
        frames = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.int64)
        lengths = (targets != BLANK_ID).sum(dim=1)
        return functional.ctc_loss(log_probs, targets, frames, lengths, blank=BLANK_ID, zero_infinity=True)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self._loss(self(inputs), targets)
        penalties = self.penalties()
        self.log_batch("train", {"loss": loss, **penalties}, len(targets))
        return loss + sum(penalties.values())

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, rates: nn.ModuleDict) -> None:
        inputs, targets = batch
        logits = self(inputs)
        loss = self._loss(logits, targets)
        predicted = transcripts(logits, self.alphabet)
        expected = [spell([i for i in row if i != BLANK_ID], self.alphabet) for row in targets.tolist()]
        for rate in rates.values():
            rate.update(predicted, expected)
        self.log_batch(stage, {"loss": loss}, len(targets))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._evaluate(batch, "val", self.error_rates["val"])

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._evaluate(batch, self.eval_stage, self.error_rates["test"])

    def loop_figures(self, loop: str) -> dict[str, Any]:
        if loop == "train":
            return {}
        rates = self.error_rates[loop]
        return {name: computed(rate) for name, rate in rates.items()}
