"""What exportable recurrent layers cost: dltrain's RecurrentNet (one module per direction and layer, the
backward one reading each text within its length) against the usual packed-sequence model (one fused
multi-layer bidirectional module over `pack_padded_sequence`), same sizes, same batches of padded texts.

Both compute the same function (tests/test_recurrent.py checks it); this measures forward + backward time
per batch, median of `--repeats`, on the CPU or `--device cuda`. Prints a table and writes
benchmarks/results/recurrent_layers.json.
Run: .venv/bin/python benchmarks/recurrent_layers.py [--device cuda] [--repeats 20] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dltrain.models.recurrent import RecurrentNet

RESULTS = Path(__file__).resolve().parent / "results" / "recurrent_layers.json"
VOCABULARY, EMBEDDING, HIDDEN, CLASSES = 20000, 64, 128, 3


class PackedBaseline(nn.Module):
    """The textbook model: embedding, packed sequence, fused recurrent stack, final states, linear head."""

    def __init__(self, cell: str, layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, EMBEDDING, padding_idx=0)
        self.recurrent = getattr(nn, cell.upper())(EMBEDDING, HIDDEN, num_layers=layers, batch_first=True,
                                                   bidirectional=bidirectional)
        self.head = nn.Linear(HIDDEN * (2 if bidirectional else 1), CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = (tokens != 0).sum(dim=1).clamp_min(1)
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, final = self.recurrent(packed)
        hidden = final[0] if isinstance(final, tuple) else final
        directions = 2 if self.recurrent.bidirectional else 1
        return self.head(torch.cat(list(hidden[-directions:]), dim=1))


def texts(batch: int, longest: int, generator: torch.Generator) -> torch.Tensor:
    lengths = torch.randint(longest // 4, longest + 1, (batch,), generator=generator)
    tokens = torch.randint(1, VOCABULARY, (batch, longest), generator=generator)
    return tokens * (torch.arange(longest)[None, :] < lengths[:, None])


def step_seconds(model: nn.Module, batches: list[torch.Tensor], repeats: int, device: torch.device) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for index in range(repeats + 2):  # two warm-up steps
        tokens = batches[index % len(batches)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = model(tokens).logsumexp(dim=1).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index >= 2:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for cell, layers, bidirectional, longest in (("lstm", 1, False, 64), ("lstm", 2, True, 64),
                                                 ("gru", 2, True, 64), ("lstm", 2, True, 256)):
        batches = [texts(arguments.batch, longest, generator).to(device) for _ in range(4)]
        torch.manual_seed(0)
        ours = RecurrentNet(CLASSES, input_size=[longest], vocab_size=VOCABULARY, cell=cell, hidden_size=HIDDEN,
                            num_layers=layers, bidirectional=bidirectional, embedding_dim=EMBEDDING).to(device)
        baseline = PackedBaseline(cell, layers, bidirectional).to(device)
        ours_s = step_seconds(ours, batches, arguments.repeats, device)
        packed_s = step_seconds(baseline, batches, arguments.repeats, device)
        rows.append({"model": f"{cell} x{layers}{' bi' if bidirectional else ''}", "max_length": longest,
                     "batch": arguments.batch, "dltrain_ms": ours_s * 1000, "packed_ms": packed_s * 1000,
                     "ratio": ours_s / packed_s})
    print(f"{'model':<12}{'length':>8}{'dltrain ms':>12}{'packed ms':>11}{'ratio':>8}   ({device}, batch "
          f"{arguments.batch}, forward+backward, median of {arguments.repeats})")
    for row in rows:
        print(f"{row['model']:<12}{row['max_length']:>8}{row['dltrain_ms']:>12.1f}{row['packed_ms']:>11.1f}"
              f"{row['ratio']:>8.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "rows": rows},
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
