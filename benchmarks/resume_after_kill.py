"""Does a killed run resume to the run it would have been? The default run (LeNet-5 on digits, with dropout so
that every random generator matters) trains once uninterrupted; then the same run is killed with SIGKILL at
random points, each time resumed with `dltrain train resume=DIR`, and its final weights, metrics.csv and
test metrics compared with the uninterrupted run's, bit for bit. The kill points are drawn over the training
time (from the moment the run writes status.json), so they fall inside epochs, not in the start-up.
Goal: every resumed run identical.

Prints a table and writes benchmarks/results/resume_after_kill.json.
Run: .venv/bin/python benchmarks/resume_after_kill.py [--kills 10] [--epochs 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "resume_after_kill.json"


def dltrain(*args: str, cwd: Path, wait: bool = True):
    command = [sys.executable, "-m", "dltrain", *args]
    if wait:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def training(run: Path, process: subprocess.Popen) -> float:
    """Seconds from the start of training (status.json written) until `process` ends."""
    while not (run / "status.json").exists() and process.poll() is None:
        time.sleep(0.01)
    started = time.perf_counter()
    process.wait()
    return time.perf_counter() - started


def outcome(run: Path) -> tuple[dict, list, dict]:
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return weights, rows, json.loads((run / "metrics.json").read_text())


def identical(run: Path, reference: Path) -> bool:
    (weights, rows, metrics), (expected, expected_rows, expected_metrics) = outcome(run), outcome(reference)
    return rows == expected_rows and metrics == expected_metrics and all(
        torch.equal(weights[name], expected[name]) for name in expected)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    # last.ckpt after every epoch: the kills test resuming from any epoch, not how often it is written.
    settings = [f"trainer.max_epochs={options.epochs}", "model.dropout=0.2", "last_checkpoint_every=0"]
    chance = random.Random(options.seed)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        full = training(root / "reference", dltrain("train", *settings, "hydra.run.dir=reference", cwd=root,
                                                    wait=False))
        results = []
        for kill in range(options.kills):
            run = root / f"killed{kill}"
            process = dltrain("train", *settings, f"hydra.run.dir={run}", cwd=root, wait=False)
            while not (run / "status.json").exists() and process.poll() is None:
                time.sleep(0.01)
            delay = chance.uniform(0.0, full)
            time.sleep(delay)
            finished = process.poll() is not None
            process.send_signal(signal.SIGKILL)
            process.wait()
            resumable = (run / "checkpoints" / "last.ckpt").exists()
            if resumable:
                dltrain("train", f"resume={run}", cwd=root)
            else:  # killed before its first epoch ended: nothing to resume, so it starts again
                dltrain("train", *settings, f"hydra.run.dir={run}", "overwrite=true", cwd=root)
            epochs_done = len(outcome(run)[1]) if resumable else 0
            results.append({"killed s into training": round(delay, 2), "finished before the kill": finished,
                            "resumed": resumable, "identical": identical(run, root / "reference"),
                            "epochs in metrics.csv": epochs_done})
            print(f"kill {kill + 1:>2} {delay:5.2f} s into training  {'resumed' if resumable else 'restarted':9}  "
                  f"{'identical' if results[-1]['identical'] else 'DIFFERENT'}", flush=True)
    same = sum(result["identical"] for result in results)
    print(f"\n{same} of {len(results)} resumed runs identical to the uninterrupted run "
          f"({sum(result['resumed'] for result in results)} resumed from a checkpoint, the rest restarted); "
          f"uninterrupted training {full:.1f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, "epochs": options.epochs, "identical": same,
                                   "kills": len(results), "uninterrupted training seconds": round(full, 1),
                                   "runs": results}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
