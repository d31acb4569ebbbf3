"""Implicit feedback: rank the items a user would interact with above those they would not; judged by hit ratio and
NDCG at k, beside a popularity baseline."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional
from torchmetrics import MeanMetric

from dltrain.data.ratings import contains, draw_negatives, interaction_codes
from dltrain.tasks.base import Task, computed

LOSSES = ("bce", "bpr")


class RankingTask(Task):
    """Trains a recommender on positives and sampled negatives (see RatingsDataModule's `implicit`): binary
    cross-entropy on each, or BPR (Rendle et al. 2009) on each positive against its negatives.

    Evaluation follows He et al. (2017): every held-out interaction is ranked among `eval_negatives` (99) items its
    user never interacted with, drawn with a fixed seed so that eval reproduces them; `full_ranking` ranks it among all
    items the user has not trained on instead. Logs `hr_<k>` (the share ranked in the top k) and `ndcg_<k>`, and the
    same for the popularity baseline (items ranked by their training interactions), `hr_<k>_popularity`; the test adds
    `coverage_<k>`, the share of the catalogue in the test users' top k. best.ckpt and early stopping follow
    val/ndcg_<k>."""

    model_kinds = ("recommender",)
    target_kinds = ("ratings",)
    monitor_mode = "max"

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None, loss: str = "bce", k: int = 10,
                 eval_negatives: int = 99, full_ranking: bool = False) -> None:
        super().__init__(model, optimizer, scheduler, regularization)
        if loss not in LOSSES:
            raise ValueError(f"task.loss must be one of {', '.join(LOSSES)}, got {loss}")
        if k < 1 or eval_negatives < 1:
            raise ValueError(f"task.k and task.eval_negatives must be at least 1, got {k} and {eval_negatives}")
        self.loss_name, self.k, self.eval_negatives, self.full_ranking = loss, k, eval_negatives, full_ranking
        self.monitor = f"val/ndcg_{k}"
        self.figures = nn.ModuleDict({f"{name}_{suffix}": MeanMetric() for name in ("hr", "ndcg")
                                      for suffix in ("model", "popularity")})
        self.seen_codes = torch.empty(0, dtype=torch.int64)
        self.popularity = torch.empty(0)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        pairs, labels = batch
        scores = self(pairs)
        if self.loss_name == "bce":
            loss = functional.binary_cross_entropy_with_logits(scores, labels)
        else:
            positives = int(labels.sum())
            negatives_each = (len(labels) - positives) // positives
            positive_scores = scores[:positives].repeat_interleave(negatives_each)
            loss = -functional.logsigmoid(positive_scores - scores[positives:]).mean()
        penalties = self.penalties()
        self.log_batch("train", {"loss": loss, **penalties}, len(pairs))
        return loss + sum(penalties.values())

    def _start_evaluation(self) -> None:
        """Every interaction of every split marks an item its user has seen (never drawn as a negative); the sampling
        restarts from the data's seed, so each evaluation ranks against the same negatives."""
        data = self.trainer.datamodule
        self.num_items = len(data.items)
        every_split = torch.cat([data.splits[split][0].cpu() for split in ("train", "val", "test")])
        self.seen_codes = interaction_codes(every_split, self.num_items)
        self.train_codes = interaction_codes(data.splits["train"][0], self.num_items)
        self.popularity = data.popularity()
        self.negative_generator = torch.Generator().manual_seed(data.seed)

    def on_validation_epoch_start(self) -> None:
        self._start_evaluation()

    def on_test_epoch_start(self) -> None:
        self._start_evaluation()
        self.recommended: set[int] = set()

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        pairs = batch[0].cpu()
        users, items = pairs[:, 0], pairs[:, 1]
        if self.full_ranking:
            candidates = torch.arange(self.num_items).expand(len(users), -1)
            excluded = contains(self.train_codes, users[:, None] * self.num_items + candidates)
        else:
            negatives = draw_negatives(users[:, None].expand(-1, self.eval_negatives), self.num_items,
                                       self.seen_codes, self.negative_generator)
            candidates = torch.cat([items[:, None], negatives], dim=1)
            excluded = torch.zeros_like(candidates, dtype=torch.bool)
        flat = torch.stack([users[:, None].expand_as(candidates), candidates], dim=2).reshape(-1, 2)
        with torch.no_grad():
            scores = self(flat.to(self.device)).float().cpu().reshape(candidates.shape)
        for scored, suffix in ((scores, "model"), (self.popularity[candidates], "popularity")):
            hits, gains = self._ranked(scored, candidates, items, excluded)
            self.figures[f"hr_{suffix}"].update(hits)
            self.figures[f"ndcg_{suffix}"].update(gains)

    def _ranked(self, scores: torch.Tensor, candidates: torch.Tensor, items: torch.Tensor,
                excluded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hit (in the top k) and NDCG of each held-out item among its candidates; ties rank against it."""
        target = scores.gather(1, (candidates == items[:, None]).float().argmax(dim=1, keepdim=True))
        rank = ((scores >= target) & ~excluded & (candidates != items[:, None])).sum(dim=1)
        hits = (rank < self.k).float()
        gains = torch.where(rank < self.k, 1 / torch.log2(rank.double() + 2), torch.zeros((), dtype=torch.float64))
        return hits, gains.float()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._evaluate(batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        self._evaluate(batch)
        self._recommended_items(batch[0][:, 0].cpu().unique())

    def _recommended_items(self, users: torch.Tensor) -> None:
        """Adds the top k of every item for each of `users` (its training items left out) to `recommended`, whose
        share of the catalogue is the test's coverage: a model that recommends the same few items to everyone has
        little, however well it ranks them."""
        candidates = torch.arange(self.num_items).expand(len(users), -1)
        flat = torch.stack([users[:, None].expand_as(candidates), candidates], dim=2).reshape(-1, 2)
        with torch.no_grad():
            scores = self(flat.to(self.device)).float().cpu().reshape(candidates.shape)
        scores[contains(self.train_codes, users[:, None] * self.num_items + candidates)] = float("-inf")
        self.recommended.update(scores.topk(min(self.k, self.num_items), dim=1).indices.flatten().tolist())

    def loop_figures(self, loop: str) -> dict[str, Any]:
        """Hit rate and NDCG at k of the model and of the popularity baseline; the test's catalogue coverage."""
        if loop == "train":
            return {}
        logged = {}
        for name in ("hr", "ndcg"):
            logged[f"{name}_{self.k}"] = float(computed(self.figures[f"{name}_model"]))
            logged[f"{name}_{self.k}_popularity"] = float(computed(self.figures[f"{name}_popularity"]))
        if loop == "test":
            logged[f"coverage_{self.k}"] = len(self.recommended) / self.num_items
        return logged
