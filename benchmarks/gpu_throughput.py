"""Training throughput of dltrain against a plain PyTorch loop: the same ResNet-18 (small-input variant) on the
same 32x32 RGB tensors, bf16 mixed precision, Adam, batch 256, data already on the device for both.

dltrain's side is its real path: SyntheticDataModule (splits moved to the GPU once), ClassificationTask
(loss, accuracy/F1 metrics, logging) under a Lightning Trainer. The ratio is what the framework costs.
Prints a table and writes benchmarks/results/gpu_throughput.json.
Run on a GPU: .venv/bin/python benchmarks/gpu_throughput.py
Check on a CPU: .venv/bin/python benchmarks/gpu_throughput.py --device cpu --images 512 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.nn import functional

from dltrain.data.synthetic import SyntheticDataModule
from dltrain.models.resnet import build_resnet
from dltrain.tasks.classification import ClassificationTask

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_throughput.json"
ADAM = {"_target_": "torch.optim.Adam", "lr": 1e-3}


class EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        _synchronize(module.device)
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        _synchronize(module.device)
        self.times.append(time.perf_counter() - self.started)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dltrain_images_per_second(images: int, batch_size: int, epochs: int, device: str) -> float:
    pl.seed_everything(0, verbose=False)
    # Every example in train: the fractions hold out one batch each for val/test, which are not run.
    held_out = batch_size / images
    data = SyntheticDataModule(num_samples=images + 2 * batch_size, num_classes=10, shape=[3, 32, 32],
                               batch_size=batch_size, val_fraction=held_out, test_fraction=held_out)
    model = build_resnet(10, 3, [32, 32], depth=18)
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs + 1, limit_val_batches=0, accelerator=device, devices=1,
                         precision="bf16-mixed", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(ClassificationTask(model, 10, optimizer=ADAM), datamodule=data)
    return data.split_size("train") / statistics.median(timer.times[1:])


def plain_images_per_second(images: int, batch_size: int, epochs: int, device: str) -> float:
    torch.manual_seed(0)
    target = torch.device(device)
    inputs = torch.randn(images, 3, 32, 32, device=target)
    labels = torch.randint(0, 10, (images,), device=target)
    model = build_resnet(10, 3, [32, 32], depth=18).to(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs + 1):
        _synchronize(target)
        started = time.perf_counter()
        order = torch.randperm(images, device=target)
        for start in range(0, images, batch_size):
            index = order[start : start + batch_size]
            with torch.autocast(target.type, dtype=torch.bfloat16):
                loss = functional.cross_entropy(model(inputs[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _synchronize(target)
        times.append(time.perf_counter() - started)
    return images / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--images", type=int, default=20480)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up epoch")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here; pass --device cpu to check the script")
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    plain = plain_images_per_second(args.images, args.batch_size, args.epochs, args.device)
    framework = dltrain_images_per_second(args.images, args.batch_size, args.epochs, accelerator)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    rows = {"device": device, "plain PyTorch (images/s)": round(plain, 1),
            "dltrain train (images/s)": round(framework, 1), "dltrain / plain": round(framework / plain, 3)}
    for name, value in rows.items():
        print(f"{name:<28} {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, "model": "resnet-18 small, 32x32x3",
                                   "precision": "bf16-mixed", "batch_size": args.batch_size, **rows}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
