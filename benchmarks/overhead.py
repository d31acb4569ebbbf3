"""What dltrain costs on top of the work itself: `dltrain train` against plain PyTorch loops doing the same work.

Three workloads, each trained by a whole `dltrain train` process (every default feature on: checkpoints, metrics,
the console's epoch lines, the CSV log, deterministic kernels) and by a plain loop in its own process:
  lenet-digits  LeNet-5 on the default digits (no augmentation)
  mlp-table     the default MLP on a 10,000-row table of 20 features, 3 classes
  gru-text      the default GRU on 3,000 texts of 40 words, 4 classes
The plain loops are short and honest: dltrain's own model classes built from the shipped model configs (LeNet-5
channels-last, as dltrain keeps it), the same stratified splits (scikit-learn, same seed), Adam at the configured
lr with a per-epoch cosine schedule, batches of 64 cut from in-memory tensors, a validation pass (loss, accuracy)
per epoch, the best weights kept in memory, a test pass at the end. They import neither Lightning nor dltrain's
training code. A third side, `lightning`, runs the same loop as a bare LightningModule (no logging, no callbacks,
no checkpoints): what Lightning itself costs.

Each workload runs for its `EPOCHS`, the sides alternated, `--repeats` times; medians are reported, and each ratio
is the median of the repeats' own ratios (a side against the plain loop run just before it: the machine's speed
drifts over minutes, and neighbours in time share it):
  epoch cost   inside the process, from the end of the first epoch to the end of the last, per epoch: everything
               an epoch costs (training, validation, checkpoints, logs), none of the start-up's noise. dltrain's
               comes from the timestamps of its epoch lines in the run's train.log.
  whole run    wall time of the whole process (start-up, data, training, test, files)
  peak memory  the process's maximum resident set size
with ratios to the plain loop, next to start-up figures: `dltrain --help`, `dltrain ls`, `dltrain train
debug=smoke` and `python -c "import pytorch_lightning"`. Prints a table, writes benchmarks/results/overhead.json.
Run: .venv/bin/python benchmarks/overhead.py [--repeats 5] [--workloads lenet-digits,...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "overhead.json"
SEED, BATCH_SIZE, LR, VAL_FRACTION, TEST_FRACTION = 42, 64, 0.003, 0.1, 0.2
# Epochs of each workload's run; LeNet-5's is the default run's 30.
EPOCHS = {"lenet-digits": 30, "mlp-table": 30, "gru-text": 8}
SIDES = ("plain", "lightning", "dltrain")


# --- the data files, written once per benchmark run -------------------------------------------------------------

def write_table(path: Path, rows: int = 10_000, features: int = 20) -> None:
    """Three classes by the sign pattern of two noisy projections of the features."""
    generator = random.Random(SEED)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"x{i}" for i in range(features)), "label"])
        for _ in range(rows):
            values = [generator.gauss(0, 1) for _ in range(features)]
            score = sum(values[:5]) - sum(values[5:10]) + generator.gauss(0, 1)
            label = "low" if score < -1 else "high" if score > 1 else "mid"
            writer.writerow([f"{value:.4f}" for value in values] + [label])


def write_texts(path: Path, count: int = 3000, words: int = 40) -> None:
    """Four topics, each with its own words mixed into common ones; every text has the same length."""
    generator = random.Random(SEED)
    common = [f"w{i}" for i in range(400)]
    topics = {name: [f"{name}{i}" for i in range(30)] for name in ("sport", "music", "money", "food")}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index in range(count):
            topic = list(topics)[index % len(topics)]
            tokens = [generator.choice(topics[topic]) if generator.random() < 0.2 else generator.choice(common)
                      for _ in range(words)]
            writer.writerow([" ".join(tokens), topic])


def dltrain_overrides(workload: str, files: Path) -> list[str]:
    common = ["callbacks.early_stopping=null"]
    if workload == "lenet-digits":
        return [*common, "model=lenet", "data=digits", "data.augment.rotation=0", "data.augment.shift=0"]
    if workload == "mlp-table":
        return [*common, "model=mlp", "data=tabular", f"data.path={files / 'table.csv'}", "data.label_column=label"]
    return [*common, "model=gru", "data=text", f"data.path={files / 'texts.csv'}"]


# --- the plain loops (run in a child process: `overhead.py plain WORKLOAD EPOCHS FILES`) -------------------------

def stratified_splits(labels):
    """train/val/test indices as dltrain's in-memory data splits them: stratified, val and test held out together,
    then the held-out part split between them."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    held_fraction = VAL_FRACTION + TEST_FRACTION
    everything = np.arange(len(labels))
    kept, held = train_test_split(everything, test_size=held_fraction, random_state=SEED, stratify=labels)
    val, test = train_test_split(np.arange(len(held)), test_size=TEST_FRACTION / held_fraction, random_state=SEED,
                                 stratify=labels[held])
    return kept, held[val], held[test]


def model_config(name: str) -> dict:
    import yaml

    config = yaml.safe_load((REPO / "conf" / "model" / f"{name}.yaml").read_text(encoding="utf-8"))
    config.pop("_target_")
    return config


def plain_digits():
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from torch.nn import functional

    from dltrain.models.lenet import LeNet5

    digits = load_digits()
    labels = np.asarray(digits.target)
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = functional.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)
    splits = [(images[index], torch.as_tensor(labels[index])) for index in stratified_splits(labels)]
    model = LeNet5(num_classes=10, in_channels=1, input_size=(16, 16), **model_config("lenet"))
    # Channels-last, as dltrain's trainer.channels_last=auto keeps convolution networks: the comparison is of the
    # frameworks, not of the layouts.
    return model.to(memory_format=torch.channels_last), splits


def plain_table(files: Path):
    import numpy as np
    import torch

    from dltrain.models.mlp import MLP

    with open(files / "table.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    names, labels = np.unique([row[-1] for row in rows], return_inverse=True)
    features = torch.tensor([[float(value) for value in row[:-1]] for row in rows])
    train, val, test = stratified_splits(labels)
    mean, std = features[train].mean(0), features[train].std(0)
    features = (features - mean) / std
    splits = [(features[index], torch.as_tensor(labels[index])) for index in (train, val, test)]
    model = MLP(num_classes=len(names), input_size=(len(header) - 1,), **model_config("mlp"))
    return model, splits


def plain_texts(files: Path):
    import numpy as np
    import torch

    from dltrain.data.vocabulary import Vocabulary
    from dltrain.models.recurrent import RecurrentNet

    with open(files / "texts.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names, labels = np.unique([row["label"] for row in rows], return_inverse=True)
    texts = [row["text"] for row in rows]
    train, val, test = stratified_splits(labels)
    vocabulary = Vocabulary.build([texts[i] for i in train], max_size=20_000)
    splits = [(vocabulary.encode([texts[i] for i in index], 256), torch.as_tensor(labels[index]))
              for index in (train, val, test)]
    model = RecurrentNet(num_classes=len(names), vocab_size=len(vocabulary), input_kind="texts", **model_config("gru"))
    return model, splits


def prepared(workload: str, files: Path):
    return {"lenet-digits": plain_digits, "mlp-table": lambda: plain_table(files),
            "gru-text": lambda: plain_texts(files)}[workload]()


def plain_loop(workload: str, epochs: int, files: Path) -> dict:
    import copy

    import torch
    from torch.nn import functional

    torch.manual_seed(SEED)
    model, (train, val, test) = prepared(workload, files)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    order = torch.Generator().manual_seed(SEED)

    def evaluate(split) -> tuple[float, float]:
        model.eval()
        loss = correct = 0.0
        with torch.no_grad():
            for start in range(0, len(split[1]), BATCH_SIZE):
                inputs, labels = split[0][start : start + BATCH_SIZE], split[1][start : start + BATCH_SIZE]
                logits = model(inputs)
                loss += functional.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
        return loss / len(split[1]), correct / len(split[1])

    best_loss, best_state, ends = math.inf, None, []
    for _ in range(epochs):
        model.train()
        shuffled = torch.randperm(len(train[1]), generator=order)
        for start in range(0, len(shuffled), BATCH_SIZE):
            index = shuffled[start : start + BATCH_SIZE]
            loss = functional.cross_entropy(model(train[0][index]), train[1][index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        val_loss, _ = evaluate(val)
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
        ends.append(time.perf_counter())
    model.load_state_dict(best_state)
    return {"test_acc": evaluate(test)[1], "epoch_s": per_epoch(ends)}


def per_epoch(ends: list[float]) -> float:
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def lightning_loop(workload: str, epochs: int, files: Path) -> dict:
    """The plain loop's work as a bare LightningModule: Lightning's loops, hooks and device handling, nothing else."""
    import pytorch_lightning as pl
    import torch
    from torch.nn import functional

    torch.manual_seed(SEED)
    model, splits = prepared(workload, files)

    class Batches:
        def __init__(self, split, shuffle: bool) -> None:
            self.split, self.shuffle = split, shuffle
            self.order = torch.Generator().manual_seed(SEED)

        def __len__(self) -> int:
            return -(-len(self.split[1]) // BATCH_SIZE)

        def __iter__(self):
            count = len(self.split[1])
            index = torch.randperm(count, generator=self.order) if self.shuffle else torch.arange(count)
            for start in range(0, count, BATCH_SIZE):
                batch = index[start : start + BATCH_SIZE]
                yield self.split[0][batch], self.split[1][batch]

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.correct = model, 0

        def training_step(self, batch, batch_index):
            return functional.cross_entropy(self.model(batch[0]), batch[1])

        def validation_step(self, batch, batch_index):
            functional.cross_entropy(self.model(batch[0]), batch[1])

        def test_step(self, batch, batch_index):
            self.correct += int((self.model(batch[0]).argmax(1) == batch[1]).sum())

        def configure_optimizers(self):
            optimizer = torch.optim.Adam(self.parameters(), lr=LR)
            return [optimizer], [torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)]

    class EpochEnds(pl.Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_train_epoch_end(self, trainer, module) -> None:
            self.ends.append(time.perf_counter())

    bare, ends = Bare(), EpochEnds()
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", callbacks=[ends])
    trainer.fit(bare, Batches(splits[0], True), Batches(splits[1], False))
    trainer.test(bare, Batches(splits[2], False), verbose=False)
    return {"test_acc": bare.correct / len(splits[2][1]), "epoch_s": per_epoch(ends.ends)}


# --- measuring ---------------------------------------------------------------------------------------------------

def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MiB) and stdout of a child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def run_side(side: str, workload: str, files: Path) -> dict:
    """The side's whole-process seconds, peak memory (MiB), epoch cost and test accuracy."""
    epochs = EPOCHS[workload]
    if side != "dltrain":
        seconds, peak, output = timed([sys.executable, str(Path(__file__).resolve()), side, workload, str(epochs),
                                       str(files)], files)
        return {"whole_run_s": seconds, "peak_mib": peak, **json.loads(output.strip().splitlines()[-1])}
    folder = files / "runs" / workload
    shutil.rmtree(folder, ignore_errors=True)
    seconds, peak, output = timed([sys.executable, "-m", "dltrain", "train", *dltrain_overrides(workload, files),
                                   f"trainer.max_epochs={epochs}", f"hydra.run.dir={folder}"], files)
    accuracy = next(float(line.replace("│", " ").split()[-1]) for line in output.splitlines() if "test/acc" in line)
    return {"whole_run_s": seconds, "peak_mib": peak, "test_acc": accuracy,
            "epoch_s": per_epoch(epoch_line_times(folder / "train.log"))}


def epoch_line_times(log: Path) -> list[float]:
    """When each epoch line was logged, in seconds (train.log stamps its lines to the millisecond)."""
    from datetime import datetime

    stamps = re.findall(r"^\[([^\]]+)\]\[dltrain[^\]]*\]\[INFO\] - epoch ", log.read_text(encoding="utf-8"),
                        re.MULTILINE)
    return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() for stamp in stamps]


def measure(workload: str, repeats: int, files: Path) -> dict:
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(repeats):
        for side in SIDES:
            runs[side].append(run_side(side, workload, files))
    result: dict = {"epochs": EPOCHS[workload]}
    for side in SIDES:
        result[side] = {key: statistics.median(run[key] for run in runs[side])
                        for key in ("whole_run_s", "epoch_s", "peak_mib", "test_acc")}
    for side in ("lightning", "dltrain"):
        result[f"{side}_ratios"] = {name: statistics.median(run[key] / plain[key]
                                                            for run, plain in zip(runs[side], runs["plain"],
                                                                                  strict=True))
                                    for name, key in (("epoch", "epoch_s"), ("whole_run", "whole_run_s"),
                                                      ("peak_memory", "peak_mib"))}
    return result


def startup(files: Path, repeats: int) -> dict:
    python = sys.executable
    commands = {"python -c pass": [python, "-c", "pass"],
                "python -c 'import pytorch_lightning'": [python, "-c", "import pytorch_lightning"],
                "dltrain --help": [python, "-m", "dltrain", "--help"],
                "dltrain ls": [python, "-m", "dltrain", "ls"],
                "dltrain train debug=smoke": [python, "-m", "dltrain", "train", "debug=smoke",
                                              f"hydra.run.dir={files / 'runs' / 'smoke'}", "overwrite=true"]}
    return {name: statistics.median(timed(command, files)[0] for _ in range(repeats))
            for name, command in commands.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(EPOCHS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder)
        write_table(files / "table.csv")
        write_texts(files / "texts.csv")
        results = {"cpus": os.cpu_count(), "repeats": args.repeats, "startup_s": startup(files, args.repeats),
                   "workloads": {name: measure(name, args.repeats, files) for name in args.workloads.split(",")}}
    print(f"{'workload':<14}{'epochs':>8}  {'side':<10}{'epoch (s)':>10}{'x plain':>8}{'whole run (s)':>15}"
          f"{'x plain':>8}{'peak (MiB)':>12}{'x plain':>8}{'test acc':>10}")
    for name, result in results["workloads"].items():
        for side in SIDES:
            row, ratios = result[side], result.get(f"{side}_ratios")
            shown = ([f"{ratios[key]:>7.2f}x" for key in ("epoch", "whole_run", "peak_memory")] if ratios
                     else [f"{'':>8}"] * 3)
            print(f"{name:<14}{result['epochs']:>8}  {side:<10}{row['epoch_s']:>10.4f}{shown[0]}"
                  f"{row['whole_run_s']:>15.2f}{shown[1]}{row['peak_mib']:>12.0f}{shown[2]}{row['test_acc']:>10.3f}")
    print()
    for name, seconds in results["startup_s"].items():
        print(f"{name:<40}{seconds:>8.2f} s")
    smoke = results["startup_s"]["dltrain train debug=smoke"]
    lightning = results["startup_s"]["python -c 'import pytorch_lightning'"]
    print(f"{'smoke run / Lightning import':<40}{smoke / lightning:>7.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    if sys.argv[1:2] in (["plain"], ["lightning"]):
        loop = plain_loop if sys.argv[1] == "plain" else lightning_loop
        print(json.dumps(loop(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main()
