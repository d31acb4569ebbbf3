"""One epoch of NeuMF over 100,000 implicit interactions (4 sampled negatives each: 500,000 scored pairs), dltrain
against a plain-PyTorch loop over the same tensors with the same batches, on the machine's cores (2 threads).

dltrain's figure is the epoch time its console prints for a one-epoch `dltrain train` (validation included: 2,000
held-out interactions ranked against 99 negatives each); the plain loop trains only. Prints a table and writes
benchmarks/results/neumf_epoch.json. Run: .venv/bin/python benchmarks/neumf_epoch.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "neumf_epoch.json"
USERS, ITEMS, PER_USER, NEGATIVES, BATCH, THREADS = 2000, 3000, 51, 4, 256, 2


def write_interactions(path: Path) -> int:
    rng = np.random.default_rng(0)
    lines = ["user,item,timestamp"]
    for user in range(USERS):
        lines += [f"{user},{item},{time}" for time, item in enumerate(rng.choice(ITEMS, PER_USER, replace=False))]
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def dltrain_epoch_seconds(folder: Path) -> float:
    overrides = ["task=ranking", "model=neumf", "data=ratings", "data.path=clicks.csv", "data.implicit=true",
                 "data.split=leave_last_out", f"data.batch_size={BATCH}", "trainer.max_epochs=1", "hydra.run.dir=run"]
    result = subprocess.run([sys.executable, "-m", "dltrain", "train", *overrides], cwd=folder, check=True,
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(THREADS)})
    return float(re.search(r"epoch 1/1 .* ([\d.]+) s", result.stdout).group(1))


def plain_epoch_seconds(training: int) -> float:
    """The same model, loss and batches, positives indexed from a tensor and negatives drawn uniformly."""
    import torch

    from dltrain.models.factorization import NeuMF

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    users = torch.randint(USERS, (training,))
    items = torch.randint(ITEMS, (training,))
    model = NeuMF(USERS, ITEMS)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    started = time.perf_counter()
    for batch in torch.randperm(training).split(BATCH):
        batch_users = users[batch].repeat_interleave(NEGATIVES + 1)
        batch_items = torch.cat([items[batch][:, None], torch.randint(ITEMS, (len(batch), NEGATIVES))], 1).flatten()
        labels = torch.zeros(len(batch), NEGATIVES + 1)
        labels[:, 0] = 1
        scores = model(torch.stack([batch_users, batch_items], 1))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    with TemporaryDirectory() as name:
        folder = Path(name)
        interactions = write_interactions(folder / "clicks.csv")
        training = interactions - 2 * USERS  # leave-last-out holds two per user out
        ours = dltrain_epoch_seconds(folder)
    plain = plain_epoch_seconds(training)
    rows = {"interactions": interactions, "training_positives": training, "negatives_per_positive": NEGATIVES,
            "batch_size": BATCH, "threads": THREADS, "dltrain_epoch_s": round(ours, 2),
            "plain_loop_epoch_s": round(plain, 2), "ratio": round(ours / plain, 2)}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'':36}{'seconds':>10}")
    print(f"{'dltrain (epoch + validation)':36}{ours:>10.2f}")
    print(f"{'plain PyTorch loop (training only)':36}{plain:>10.2f}")
    print(f"NeuMF, {training:,} positives x {NEGATIVES + 1} scored pairs, batches of {BATCH}, {THREADS} threads; "
          f"ratio {ours / plain:.2f}")


if __name__ == "__main__":
    main()
