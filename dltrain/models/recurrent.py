"""Recurrent networks (Elman RNN, LSTM, GRU) over token ids, feature sequences or images read row by row."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
POOLINGS = ("last", "mean", "max", "none")
PAD_ID = 0


class RecurrentNet(nn.Module):
    """Front end -> stacked (bi)directional recurrent layers -> pooling over time -> linear head.

    Inputs are one of: token ids (N x T, int64, padded with id 0; needs `vocab_size`), which go through an
    embedding and are packed so that padding never changes the result; feature sequences (N x T x F); or images
    (N x C x H x W), read as H steps of C*W features, so `model=lstm` trains on any image data. Features go
    through a linear projection to `embedding_dim` (null feeds them directly).

    `pooling` turns the per-step outputs into one vector: `last` (each direction's final state at the true
    length), `mean` or `max` over the real steps; `none` keeps them and returns per-step logits (N x T x
    num_classes), what CTC training needs.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, input_size: Sequence[int] = (8, 8),
                 vocab_size: int | None = None, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last",
                 embedding_dim: int | None = 64, nonlinearity: str = "tanh") -> None:
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
        self.pooling = pooling
        if vocab_size is not None:
            self.front: nn.Module = nn.Embedding(vocab_size, embedding_dim or 64, padding_idx=PAD_ID)
            step_size = embedding_dim or 64
        else:
            features = in_channels * input_size[-1]
            self.front = nn.Linear(features, embedding_dim) if embedding_dim else nn.Identity()
            step_size = embedding_dim or features
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.recurrent = CELLS[cell](step_size, hidden_size, num_layers=num_layers, batch_first=True,
                                     bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0, **extra)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        lengths = None
        if isinstance(self.front, nn.Embedding):
            lengths = (inputs != PAD_ID).sum(dim=1).clamp_min(1)
        elif inputs.dim() == 4:
            inputs = inputs.permute(0, 2, 1, 3).flatten(2)
        steps = self.front(inputs)
        total = steps.shape[1]
        if lengths is not None:
            packed = pack_padded_sequence(steps, lengths.cpu(), batch_first=True, enforce_sorted=False)
            outputs, final = self.recurrent(packed)
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=total)
        else:
            outputs, final = self.recurrent(steps)
        if self.pooling == "none":
            return self.head(self.dropout(outputs))
        return self.head(self.dropout(self._pool(outputs, final, lengths)))

    def _pool(self, outputs: torch.Tensor, final: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
              lengths: torch.Tensor | None) -> torch.Tensor:
        if self.pooling == "last":
            hidden = final[0] if isinstance(final, tuple) else final
            directions = 2 if self.recurrent.bidirectional else 1
            return torch.cat(list(hidden[-directions:]), dim=1)
        if lengths is None:
            return outputs.mean(dim=1) if self.pooling == "mean" else outputs.amax(dim=1)
        real = (torch.arange(outputs.shape[1], device=outputs.device)[None, :] < lengths.to(outputs.device)[:, None])
        real = real.unsqueeze(-1)
        if self.pooling == "mean":
            return (outputs * real).sum(dim=1) / real.sum(dim=1)
        return outputs.masked_fill(~real, float("-inf")).amax(dim=1)
