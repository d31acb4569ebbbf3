"""Per-frame character scores to text, CTC's best path: shared by the CTC task and by predict, which must run
without Lightning."""

from __future__ import annotations

import torch

BLANK_ID = 0


def greedy_decode(logits: torch.Tensor) -> list[list[int]]:
    """Best class per frame, repeats merged, blanks dropped: CTC's best-path decoding."""
    decoded = []
    for best in logits.argmax(dim=-1).cpu():
        merged = torch.unique_consecutive(best)
        decoded.append(merged[merged != BLANK_ID].tolist())
    return decoded


def transcripts(logits: torch.Tensor, alphabet: list[str]) -> list[str]:
    """The best-path text of each of N x frames x classes score rows."""
    return [spell(ids, alphabet) for ids in greedy_decode(logits)]


def spell(ids: list[int], alphabet: list[str]) -> str:
    return "".join(alphabet[index] for index in ids)
