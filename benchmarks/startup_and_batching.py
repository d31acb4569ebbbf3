"""Two costs a user feels on every run, each measured against its baseline in the same process.

1. Start-up: `dltrain --help` and `dltrain ls` against a bare `python -c pass` (they must not import torch).
2. Batching: one epoch of digits batches cut from in-memory tensors by indexing (dltrain's TensorBatches)
   against torch's DataLoader over a TensorDataset (item by item, then collated).

Prints a table and writes benchmarks/results/startup_and_batching.json.
Run: .venv/bin/python benchmarks/startup_and_batching.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup_and_batching.json"


def wall(command: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_time(loader, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _batch in loader:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from dltrain.data.digits import DigitsDataModule
    from dltrain.data.in_memory import TensorBatches

    python = sys.executable
    rows = {"python -c pass (s)": wall([python, "-c", "pass"]),
            "dltrain --help (s)": wall([python, "-m", "dltrain", "--help"]),
            "dltrain ls (s)": wall([python, "-m", "dltrain", "ls"])}
    data = DigitsDataModule(image_size=32)
    data.setup()
    inputs, labels = data.splits["train"]
    indexed = epoch_time(TensorBatches(inputs, labels, batch_size=64, shuffle=True))
    torch.manual_seed(0)
    collated = epoch_time(DataLoader(TensorDataset(inputs, labels), batch_size=64, shuffle=True))
    rows["digits epoch, indexed batches (ms)"] = indexed * 1000
    rows["digits epoch, DataLoader (ms)"] = collated * 1000
    rows["DataLoader / indexed"] = collated / indexed
    width = max(map(len, rows))
    for name, value in rows.items():
        print(f"{name:<{width}}  {value:8.3f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, **rows}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
