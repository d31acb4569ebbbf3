"""Each model's size and the CPU time of one training epoch on the default digits data (16x16, batch 64).

The model is built from its shipped config, trained through the same Lightning task as `dltrain train`
(Adam, augmentation on), for one warm-up epoch and then `--epochs` timed epochs without validation; the
median epoch is reported. Prints a table and writes benchmarks/results/models_on_digits.json.
Run: .venv/bin/python benchmarks/models_on_digits.py [--models lenet,resnet] [--epochs 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from dltrain.assemble import build_data, build_model, build_task
from dltrain.configs import config_dir

RESULTS = Path(__file__).resolve().parent / "results" / "models_on_digits.json"
MODELS = {"lenet": {}, "mlp": {}, "resnet-20": {"depth": 20}, "resnet-18": {"depth": 18},
          "vgg-11-bn": {"depth": 11}, "vgg-16-bn": {"depth": 16}, "alexnet": {}, "googlenet": {}}


class EpochTimer(pl.Callback):
    """A Lightning callback recording the wall time of every training epoch."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        self.times.append(time.perf_counter() - self.started)


def measure(name: str, overrides: dict, epochs: int) -> dict:
    conf = config_dir()
    option = name.split("-")[0]
    model_config = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(conf / "model" / f"{option}.yaml"),
                                                          overrides))
    data_config = OmegaConf.load(conf / "data" / "digits.yaml")
    data_config.seed = 0
    data = build_data(OmegaConf.to_container(data_config))
    pl.seed_everything(0, verbose=False)
    model = build_model(model_config, data.spec)
    optimizer = OmegaConf.to_container(OmegaConf.load(conf / "optimizer" / "adam.yaml"))
    task = build_task({"task": {"_target_": "dltrain.tasks.classification.ClassificationTask"},
                       "optimizer": optimizer}, model, data.spec)
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs + 1, limit_val_batches=0, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer])
    trainer.fit(task, datamodule=data)
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "seconds per epoch": statistics.median(timer.times[1:]), "input": data.spec["input_size"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {name: measure(name, MODELS[name], args.epochs) for name in args.models.split(",")}
    print(f"{'model':<12} {'parameters':>12} {'s / epoch':>10}")
    for name, row in rows.items():
        print(f"{name:<12} {row['parameters']:>12,} {row['seconds per epoch']:>10.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                   "models": rows}, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
