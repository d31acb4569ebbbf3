"""dltrain train: build data, model and task from the composed config, fit, test the best checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


def run(cfg: DictConfig) -> None:
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from dltrain.assemble import build_data, build_model, build_task

    started = time.perf_counter()
    config = OmegaConf.to_container(cfg, resolve=True)
    pl.seed_everything(config["seed"], workers=True, verbose=False)

    data = build_data(config["data"])
    model = build_model(config["model"], data.spec)
    task = build_task(config, model, data.spec, data.class_names)
    fit_and_test(config, data, task, started)


def fit_and_test(config: dict[str, Any], data, task, started: float, callbacks: Sequence = (),
                 command: str = "train", check: Callable | None = None) -> Path:
    """Fit `task` on `data`, test its best checkpoint, write the run directory's files and print the summary.
    Returns the run directory. Shared by train and transfer, which differ only in how the task starts.
    `check(trainer)` may refuse the trainer's settings before anything is written or launched."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from dltrain.assemble import build_trainer, instantiate
    from dltrain.callbacks import EpochMetricsCSV, RunMetadata
    from dltrain.files import write_json_atomic, write_text_atomic
    from dltrain.report import print_table, stage_metrics

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    spec = data.spec
    configured = [instantiate(node, f"callbacks.{name}") for name, node in config["callbacks"].items() if node]
    every_run = [EpochMetricsCSV(run_dir / "metrics.csv"), RunMetadata(config, data.class_names, spec)]
    logger = instantiate(config["logger"], "logger") if config.get("logger") else False
    trainer = build_trainer(config["trainer"], callbacks=[*configured, *every_run, *callbacks], logger=logger,
                            default_root_dir=str(run_dir))
    if check is not None:
        check(trainer)
    if trainer.is_global_zero:
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(config))

    trainer.fit(task, datamodule=data)
    checkpointing = trainer.checkpoint_callback
    best = checkpointing.best_model_path if checkpointing is not None else ""
    trainer.test(task, datamodule=data, ckpt_path=best or None, verbose=False)

    metrics = stage_metrics(trainer.callback_metrics, "test")
    if not trainer.is_global_zero:
        return run_dir
    write_json_atomic(run_dir / "metrics.json", metrics)
    rows = [("model", config["model"]["_target_"].rsplit(".", 1)[-1]),
            ("data", f"{config['data']['_target_'].rsplit('.', 1)[-1]} {spec}"),
            ("epochs", trainer.current_epoch)]
    if best and checkpointing.best_model_score is not None:
        rows.append((f"best {checkpointing.monitor}", float(checkpointing.best_model_score)))
    rows += list(metrics.items())
    rows += [("time", f"{time.perf_counter() - started:.1f} s"), ("run directory", str(run_dir))]
    print_table(f"dltrain {command}: done", rows)
    return run_dir
