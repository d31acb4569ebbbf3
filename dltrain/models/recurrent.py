"""Recurrent networks (Elman RNN, LSTM, GRU) over token ids, feature sequences, signals or images read row by
row."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
POOLINGS = ("auto", "last", "mean", "max", "none")
PAD_ID = 0
# What the data gives (its spec's input_kind) that these models read: not rows of a table, which have no steps.
INPUT_KINDS = ("texts", "images", "clips", "signals")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"


def automatic_pooling(input_kind: str | None) -> str:
    """`mean` for clips: a spoken word sits anywhere in the clip, often followed by silence that the last step
    would read; `last` for texts and images read row by row, which end where they end."""
    return "mean" if input_kind == "clips" else "last"


class RecurrentNet(nn.Module):
    """Front end -> stacked (bi)directional recurrent layers -> pooling over time -> linear head.

    Inputs are one of: token ids (N x T, int64, padded with id 0; needs `vocab_size`) through an embedding;
    feature sequences (N x T x F); signals (N x C x T, `input_kind` signals), read as T steps of C values; or
    images (N x C x H x W), read as H steps of C*W features, so `model=lstm` trains on any image data. Features
    go through a linear projection to `embedding_dim` (null: as they are).

    Padding never changes a result, without packed sequences (which neither ONNX nor TorchScript can trace):
    each direction of each layer is its own one-layer module; the forward one runs over the padded batch (the
    padding comes after every real step, so it cannot reach them) and the backward one over each sequence
    reversed within its own length. `pooling` then reads only real steps: `last` (each direction's final
    state), `mean` or `max`; `none` returns per-step logits (N x T x num_classes), what CTC training needs;
    `auto` chooses by the data's `input_kind` (see automatic_pooling).
    """

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (8, 8),
                 vocab_size: int | None = None, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last",
                 embedding_dim: int | None = 64, nonlinearity: str = "tanh", input_kind: str | None = None) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown recurrent cell '{cell}'; choose one of: {', '.join(CELLS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling '{pooling}'; choose one of: {', '.join(POOLINGS)}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity '{nonlinearity}'; choose tanh or relu")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity applies to model=rnn only; a {cell} has its own gates")
        if len(input_size) not in (1, 2):
            raise ValueError(f"a recurrent model reads sequences; the data gives inputs of size {list(input_size)}")
        self.pooling = automatic_pooling(input_kind) if pooling == "auto" else pooling
        self.channels_first = input_kind == "signals"
        layout = f"{num_layers} layer{'s' if num_layers > 1 else ''} of {hidden_size}"
        self.display_name = (f"{'bidirectional ' if bidirectional else ''}{CELL_NAMES[cell]} ({layout}, "
                             + ("per-step outputs)" if self.pooling == "none" else f"{self.pooling} pooling)"))
        if vocab_size is not None:
            self.front: nn.Module = nn.Embedding(vocab_size, embedding_dim or 64, padding_idx=PAD_ID)
            step_size = embedding_dim or 64
        else:
            features = in_channels if self.channels_first else in_channels * input_size[-1]
            self.front = nn.Linear(features, embedding_dim) if embedding_dim else nn.Identity()
            step_size = embedding_dim or features
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        directions = ("forwards", "backwards") if bidirectional else ("forwards",)
        self.layers = nn.ModuleList(
            nn.ModuleDict({direction: CELLS[cell](step_size if depth == 0 else hidden_size * len(directions),
                                                  hidden_size, batch_first=True, **extra)
                           for direction in directions})
            for depth in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * len(directions), num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.front, nn.Embedding):
            lengths = (inputs != PAD_ID).sum(dim=1).clamp_min(1)
        else:
            if inputs.dim() == 4:
                inputs = inputs.permute(0, 2, 1, 3).flatten(2)
            elif self.channels_first:
                inputs = inputs.transpose(1, 2)
            lengths = torch.full(inputs.shape[:1], inputs.shape[1], dtype=torch.int64, device=inputs.device)
        steps = self.front(inputs)
        positions = torch.arange(steps.shape[1], device=steps.device)[None, :]
        real = positions < lengths[:, None]
        # Reading each sequence backwards within its length: step t takes step length-1-t; padding stays put.
        reverse = torch.where(real, lengths[:, None] - 1 - positions, positions)
        last = (lengths - 1)[:, None, None]
        finals: list[torch.Tensor] = []
        for depth, layer in enumerate(self.layers):
            if depth > 0:
                steps = self.dropout(steps)
            outputs, finals = [], []
            for direction, recurrent in layer.items():
                backward = direction == "backwards"
                sequence = _gather_steps(steps, reverse) if backward else steps
                result, _ = recurrent(sequence)
                finals.append(result.gather(1, last.expand(-1, 1, result.shape[2])).squeeze(1))
                outputs.append(_gather_steps(result, reverse) if backward else result)
            steps = torch.cat(outputs, dim=2)
        if self.pooling == "none":
            return self.head(self.dropout(steps))
        if self.pooling == "last":
            pooled = torch.cat(finals, dim=1)
        elif self.pooling == "mean":
            pooled = (steps * real.unsqueeze(-1)).sum(dim=1) / lengths[:, None]
        else:
            pooled = steps.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(dim=1)
        return self.head(self.dropout(pooled))


def _gather_steps(steps: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """steps[n, order[n, t]] for every n, t: reorders each sequence of the batch along time."""
    return steps.gather(1, order.unsqueeze(-1).expand(-1, -1, steps.shape[2]))
