"""Means of per-batch figures over a loop, kept as tensors where the figures are computed.

Lightning's `self.log` costs about half a millisecond of Python per call and per key, whatever the model: on small
models it was most of an epoch's time. Here a batch's figure is only kept (detached, no tensor operation and no
host-device synchronisation); every `FOLD` batches, and at the loop's end, the kept ones are summed in one
operation, so that a long epoch holds few tensors. The task logs the means once per loop.
"""

from __future__ import annotations

import torch

# Batches kept before they are summed: small enough that an epoch of millions of batches holds few tensors (each a
# block of device memory), large enough that summing is rare.
FOLD = 256


class BatchMeans:
    """Weighted means of named scalar figures (weights: batch sizes)."""

    def __init__(self) -> None:
        self.kept: dict[str, list[torch.Tensor]] = {}
        self.kept_weights: dict[str, list[int]] = {}
        self.sums: dict[str, torch.Tensor] = {}
        self.weights: dict[str, int] = {}

    def add(self, figures: dict[str, torch.Tensor], weight: int) -> None:
        for name, value in figures.items():
            kept = self.kept.setdefault(name, [])
            kept.append(value.detach())
            self.kept_weights.setdefault(name, []).append(weight)
            if len(kept) >= FOLD:
                self._fold(name)

    def means(self) -> dict[str, torch.Tensor]:
        for name in list(self.kept):
            self._fold(name)
        return {name: total / self.weights[name] for name, total in self.sums.items()}

    def _fold(self, name: str) -> None:
        values, weights = self.kept.pop(name), self.kept_weights.pop(name)
        stacked = torch.stack(values)
        total = (stacked * torch.tensor(weights, dtype=stacked.dtype, device=stacked.device)).sum()
        self.sums[name] = self.sums[name] + total if name in self.sums else total
        self.weights[name] = self.weights.get(name, 0) + sum(weights)
