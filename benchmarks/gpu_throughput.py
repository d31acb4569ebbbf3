"""Training throughput of `dltrain train` on a GPU against a tuned plain PyTorch loop: images per second.

Workloads (dltrain's synthetic Gaussian-cluster images, 10 classes; both sides keep every split on the GPU):
  resnet18-224  ResNet-18 (torchvision's, ImageNet stem) on 3x224x224, batches of 256, 16,384 training images
  resnet20-32   the paper's CIFAR ResNet-20 on 3x32x32, batches of 512, 49,152 training images
Both sides do the same work each epoch: the training images in a new order, Adam (lr 1e-3) under the cosine
schedule, bf16 autocast, then one validation batch. The plain loop is tuned as a practitioner would tune it:
weights channels-last, cuDNN's autotuner on, `zero_grad(set_to_none=True)`, no host-device copies, one read of the
GPU per epoch. dltrain's side is a whole `dltrain train trainer=gpu` process with every default on (metrics, the
console's epoch lines, the CSV log, best.ckpt written whenever val/loss improves: for ResNet-18 with Adam's state
~135 MB, a per-epoch cost that larger epochs dilute); its epoch cost comes from its train.log's epoch lines.
`--compile` adds torch.compile to both sides (trainer.compile=true).

Epoch cost: from the end of the first epoch (cuDNN's autotuning, compilation) to the end of the last, per epoch.
images/s = training images / epoch cost. The goal is dltrain / plain >= 0.95. Each side runs in its own process,
alternated, `--repeats` times; the ratio is the median of the repeats' own ratios. Prints a table and writes
benchmarks/results/gpu_throughput.json.
Run on a GPU:  python benchmarks/gpu_throughput.py            (about 3 minutes on an H200)
Check on a CPU: python benchmarks/gpu_throughput.py --device cpu --scale 0.01 --epochs 2 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from overhead import epoch_line_times, per_epoch, timed

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_throughput.json"
SEED, LR, CLASSES = 42, 1e-3, 10
# name: (ResNet depth, image side, batch size, training images)
WORKLOADS = {"resnet18-224": (18, 224, 256, 16384), "resnet20-32": (20, 32, 512, 49152)}


def sizes(workload: str, scale: float) -> tuple[int, int, int, int]:
    depth, side, batch_size, images = WORKLOADS[workload]
    batch_size = max(2, min(batch_size, round(images * scale)))
    return depth, side, batch_size, max(batch_size, round(images * scale) // batch_size * batch_size)


def data_options(workload: str, scale: float) -> dict:
    """dltrain's synthetic data holding `images` training examples and one batch each for validation and test."""
    _, side, batch_size, images = sizes(workload, scale)
    total = images + 2 * batch_size
    return {"num_samples": total, "num_classes": CLASSES, "shape": [3, side, side], "batch_size": batch_size,
            "val_fraction": batch_size / total, "test_fraction": batch_size / total, "seed": SEED}


# --- the plain loop (a child process: `gpu_throughput.py plain WORKLOAD EPOCHS DEVICE SCALE COMPILE`) -------------

def plain_loop(workload: str, epochs: int, device: str, scale: float, compile_model: bool) -> dict:
    import torch
    from torch.nn import functional

    from dltrain.data.synthetic import SyntheticDataModule
    from dltrain.models.resnet import build_resnet

    torch.manual_seed(SEED)
    torch.backends.cudnn.benchmark = True
    target = torch.device(device)
    data = SyntheticDataModule(**data_options(workload, scale))
    data.setup()
    (inputs, labels), (val_inputs, val_labels) = ((tensor.to(target) for tensor in data.splits[split])
                                                  for split in ("train", "val"))
    depth, side, batch_size, _ = sizes(workload, scale)
    model = build_resnet(CLASSES, 3, [side, side], depth=depth).to(target, memory_format=torch.channels_last)
    if compile_model:
        model.compile()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    ends, correct = [], torch.zeros((), device=target)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(labels), device=target)
        for start in range(0, len(labels), batch_size):
            index = order[start : start + batch_size]
            with torch.autocast(target.type, dtype=torch.bfloat16):
                loss = functional.cross_entropy(model(inputs[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        with torch.no_grad(), torch.autocast(target.type, dtype=torch.bfloat16):
            correct += (model(val_inputs).argmax(1) == val_labels).sum()
        correct.item()  # waits for the epoch's kernels
        ends.append(time.perf_counter())
    return {"epoch_s": per_epoch(ends), "train_images": len(labels)}


# --- dltrain's side ---------------------------------------------------------------------------------------------

def dltrain_overrides(workload: str, scale: float, device: str, compile_model: bool) -> list[str]:
    depth = sizes(workload, scale)[0]
    data = data_options(workload, scale)
    shape = ",".join(map(str, data.pop("shape")))
    data.pop("seed")
    trainer = ["trainer=gpu"] if device == "cuda" else ["trainer=cpu", "trainer.precision=bf16-mixed"]
    return ["model=resnet", f"model.depth={depth}", "data=synthetic", f"data.shape=[{shape}]", f"seed={SEED}",
            *(f"data.{key}={value}" for key, value in data.items()), "optimizer=adam", f"optimizer.lr={LR}",
            "callbacks.early_stopping=null", *trainer, f"trainer.compile={str(compile_model).lower()}"]


def run_side(side: str, workload: str, args: argparse.Namespace, folder: Path) -> dict:
    if side == "plain":
        command = [sys.executable, str(Path(__file__).resolve()), "plain", workload, str(args.epochs), args.device,
                   str(args.scale), str(args.compile)]
        seconds, _, output = timed(command, folder)
        return {"whole_run_s": seconds, **json.loads(output.strip().splitlines()[-1])}
    run = folder / "runs" / workload
    command = [sys.executable, "-m", "dltrain", "train", *dltrain_overrides(workload, args.scale, args.device,
                                                                            args.compile),
               f"trainer.max_epochs={args.epochs}", f"hydra.run.dir={run}", "overwrite=true"]
    seconds, _, _ = timed(command, folder)
    log = run / "train.log"
    train_images = int(re.search(r"([\d,]+) train /", log.read_text(encoding="utf-8")).group(1).replace(",", ""))
    return {"whole_run_s": seconds, "epoch_s": per_epoch(epoch_line_times(log)), "train_images": train_images}


def measure(workload: str, args: argparse.Namespace, folder: Path) -> dict:
    runs: dict[str, list[dict]] = {"plain": [], "dltrain": []}
    for _ in range(args.repeats):
        for side in runs:
            runs[side].append(run_side(side, workload, args, folder))
    speeds = {side: [run["train_images"] / run["epoch_s"] for run in side_runs] for side, side_runs in runs.items()}
    return {"images_per_s": {side: statistics.median(values) for side, values in speeds.items()},
            "whole_run_s": {side: statistics.median(run["whole_run_s"] for run in side_runs)
                            for side, side_runs in runs.items()},
            "dltrain_over_plain": statistics.median(ours / theirs for ours, theirs in zip(speeds["dltrain"],
                                                                                         speeds["plain"],
                                                                                         strict=True))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="a fraction of each workload's training images")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model on both sides")
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here; pass --device cpu to check the script")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    with tempfile.TemporaryDirectory() as folder:
        results = {name: measure(name, args, Path(folder)) for name in args.workloads.split(",")}
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"{device}, torch {torch.__version__}, bf16 autocast, channels-last"
          f"{', torch.compile' if args.compile else ''}; {args.repeats} repeats of {args.epochs} epochs")
    print(f"{'workload':<14}{'batch':>7}{'plain (images/s)':>18}{'dltrain (images/s)':>20}{'dltrain / plain':>17}")
    for name, result in results.items():
        speed = result["images_per_s"]
        print(f"{name:<14}{sizes(name, args.scale)[2]:>7}{speed['plain']:>18.0f}{speed['dltrain']:>20.0f}"
              f"{result['dltrain_over_plain']:>16.3f}x")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"device": device, "torch": torch.__version__, "compile": args.compile,
                                   "epochs": args.epochs, "repeats": args.repeats, "scale": args.scale,
                                   "workloads": results}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["plain"]:
        workload, epochs, device, scale, compile_model = sys.argv[2:7]
        print(json.dumps(plain_loop(workload, int(epochs), device, float(scale), compile_model == "True")))
    else:
        main()
