"""dltrain train: build data, model and task from the composed config, fit, test the best checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dltrain.console import count, describe_inputs, header_lines

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from dltrain.assemble import build_data, build_model, build_task, check_targets, targets_for_the_task

    started = time.perf_counter()
    config = OmegaConf.to_container(cfg, resolve=True)
    resume_from = None
    if config.get("resume"):
        config, resume_from = _resumed(config)
        if "transferred_from" in config:
            from dltrain.commands.transfer import transfer_and_test

            transfer_and_test(config, started, resume_from)
            return
    else:
        _environment_as_data(config)
    pl.seed_everything(config["seed"], workers=True, verbose=False)

    _in_pixel_range_for_the_task(config)
    targets_for_the_task(config)
    data = build_data(config["data"])
    check_targets(config["task"].get("_target_"), data)
    model = build_model(config["model"], data.spec, config["task"].get("_target_"))
    task = build_task(config, model, data.spec, data.class_names)
    run_dir = fit_and_test(config, data, task, started, resume_from=resume_from)
    return search_objective(config, run_dir)


def search_objective(config: dict[str, Any], run_dir: Path) -> float | None:
    """What a hyperparameter search (hparams_search=...) judges this run by: `search.objective`, a figure of the run's
    metrics.json, or the best epoch's (in `search.direction`) of one in its metrics.csv. None outside a search."""
    from dltrain.errors import SearchError
    from dltrain.run_records import read_run

    search = config.get("search")
    if not search:
        return None
    name, record = search["objective"], read_run(run_dir)
    if name in record.metrics:
        return float(record.metrics[name])
    values = [value for _, value in record.curve(name)]
    if not values:
        measured = sorted(record.metrics) + record.epoch_figures()
        raise SearchError(f"search.objective={name}: this run did not measure it",
                        f"choose one of its figures, e.g. {', '.join(measured)}")
    return max(values) if search.get("direction") == "maximize" else min(values)


def _resumed(config: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """The run's own saved config, with what this command line may change on resume, and the checkpoint to
    continue from."""
    import yaml
    from hydra.core.hydra_config import HydraConfig

    from dltrain.checkpoints import resumable_checkpoint
    from dltrain.lifecycle import resumed_config

    folder = Path(config["resume"])
    saved = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    resumed = resumed_config(saved, config, list(HydraConfig.get().overrides.task))
    resumed["resume"] = str(folder)
    return resumed, resumable_checkpoint(folder)


def fit_and_test(config: dict[str, Any], data, task, started: float, callbacks: Sequence = (),
                 command: str = "train", check: Callable | None = None, resume_from: Path | None = None) -> Path:
    """Fit `task` on `data` (from `resume_from` when resuming), test its best checkpoint, write the run
    directory's files and print the summary. Returns the run directory. Shared by train and transfer, which
    differ only in how the task starts. `check(trainer)` may refuse the trainer's settings before anything is
    written or launched. status.json follows the run: running, then finished, diverged or failed."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from dltrain.assemble import build_trainer, instantiate
    from dltrain.batch_hooks import skip_empty_batch_hooks
    from dltrain.callbacks import (
        AtomicCheckpointIO,
        DivergenceGuard,
        EpochMetricsCSV,
        EpochProgress,
        GracefulStop,
        LastCheckpoint,
        MonitoredFigureCheck,
        RandomState,
        RunMetadata,
    )
    from dltrain.files import write_json_atomic, write_text_atomic
    from dltrain.lifecycle import write_status
    from dltrain.memory_layout import apply_layout, view_refused
    from dltrain.report import print_table, stage_metrics

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # What the data decided for options left to `auto` is recorded as the value, for eval, export and predict.
    config["data"].update({key: value for key, (value, _) in data.decided.items()})
    spec = data.spec
    verbose = bool(config.get("verbose"))
    _monitoring_the_task(config, task, data)
    logger = instantiate(config["logger"], "logger") if config.get("logger") else False
    by_name = {name: instantiate(node, f"callbacks.{name}") for name, node in (config.get("callbacks") or {}).items()
               if node}
    configured = _following_the_task(_without_a_logger(list(by_name.values()), logger), task)
    figure_check = MonitoredFigureCheck({f"callbacks.{name}.monitor": callback for name, callback in by_name.items()
                                         if callback in configured})
    every_run = [EpochMetricsCSV(run_dir / "metrics.csv"), RunMetadata(config, data.class_names, spec),
                 RandomState(), DivergenceGuard(), GracefulStop(run_dir / "checkpoints"),
                 LastCheckpoint(run_dir / "checkpoints", config.get("last_checkpoint_every", 0))]
    if not verbose:
        every_run.append(EpochProgress())
    if resume_from is not None and hasattr(logger, "resumed_step"):
        logger.resumed_step = _global_step(resume_from)
    lightning_console = {"enable_progress_bar": verbose, "enable_model_summary": verbose}
    settings = dict(config["trainer"])
    channels_last = apply_layout(settings.pop("channels_last", "auto"), task,
                                 (config.get("model") or {}).get("_target_"))
    if settings.pop("compile", False):
        # In place: the state_dict keeps its keys, so checkpoints load into an uncompiled model (eval, export).
        task.model.compile()
    trainer = build_trainer({**lightning_console, **settings},
                            callbacks=[figure_check, *configured, *every_run, *callbacks], logger=logger,
                            default_root_dir=str(run_dir), plugins=[AtomicCheckpointIO()])
    if check is not None:
        check(trainer)
    skip_empty_batch_hooks(trainer, task)
    if getattr(task, "single_process", False) and trainer.world_size > 1:
        from dltrain.errors import UserError

        raise UserError(f"{type(task).__name__} trains in one process (its environments and replay buffer are not "
                        f"shared), not {trainer.world_size}", "pass trainer.devices=1 (env.num_envs=N steps N "
                        "environments together)")
    if trainer.is_global_zero:
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(config))
        for line in header_lines(_header_rows(data, task.model, trainer, resume_from, channels_last)):
            log.info(line)
        write_status(run_dir, "running", **({"resumed_from": str(resume_from)} if resume_from else {}))
        if logger:
            logger.log_hyperparams(config)  # every logger keeps the run's config (MLflow as parameters)

    try:
        trainer.fit(task, datamodule=data, ckpt_path=str(resume_from) if resume_from else None)
        checkpointing = trainer.checkpoint_callback
        best = checkpointing.best_model_path if checkpointing is not None else ""
        trainer.test(task, datamodule=data, ckpt_path=best or None, verbose=False)
        metrics = stage_metrics(trainer.callback_metrics, "test")
        check_finite(metrics)
    except BaseException as error:
        if trainer.is_global_zero:
            write_status(run_dir, ending(error), epoch=trainer.current_epoch, step=trainer.global_step)
        if is_out_of_memory(error):
            raise out_of_memory(error, config) from None
        if channels_last and (refused := view_refused(error)):
            raise refused from None
        raise
    if not trainer.is_global_zero:
        return run_dir
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_status(run_dir, "finished", epoch=trainer.current_epoch, step=trainer.global_step)
    if hasattr(logger, "finish_run"):
        logger.finish_run(run_dir)
    stopped = trainer.early_stopping_callback
    stopped_early = stopped is not None and stopped.stopped_epoch > 0
    rows = [("model", model_name(task.model)),
            ("data", f"{_data_name(data)}: {describe_inputs(spec, spec.get('input_kind'))}"),
            ("epochs", f"{trainer.current_epoch}{' (stopped early)' if stopped_early else ''}")]
    if best and checkpointing.best_model_score is not None:
        rows.append((f"best {checkpointing.monitor}", float(checkpointing.best_model_score)))
    rows += list(metrics.items())
    rows += [("time", f"{time.perf_counter() - started:.1f} s"), ("run directory", _shown_path(run_dir))]
    print_table(f"dltrain {command}: done", rows)
    return run_dir


def _environment_as_data(config: dict[str, Any]) -> None:
    """A task that learns from an environment (`learns_from`: task=dqn) takes env= where the others take data=.
    The environment goes where the data would (config["data"]), so the run's config describes what it learned
    from to eval, export and resume as any other run's does. Pairings that mean nothing are refused."""
    from hydra.core.hydra_config import HydraConfig

    from dltrain.assemble import chosen_option, task_attribute
    from dltrain.errors import UserError

    env = config.pop("env", None)
    task = f"task={chosen_option('task')}"
    if task_attribute(config["task"].get("_target_"), "learns_from") != "environment":
        if env:
            raise UserError(f"env={chosen_option('env')} is an environment, which only task=dqn learns from "
                            f"({task} learns from data)", "pass task=dqn with it, or drop env= to train on data=")
        return
    refuse_data_settings(chosen_option("task"), list(HydraConfig.get().overrides.task))
    if not env:
        raise UserError(f"{task} learns from an environment, and none was chosen", f"pass {ENVIRONMENTS}")
    config["data"] = env


ENVIRONMENTS = "env=cartpole, acrobot, mountaincar or lunarlander (or env=gymnasium env.id=ID)"


def refuse_data_settings(task: str | None, overrides: list[str]) -> None:
    """A task that learns from an environment has no use for data= or data.*: said before anything is composed
    (a data group's own checks would otherwise answer first)."""
    from dltrain.errors import UserError
    from dltrain.lifecycle import override_key

    given = [override for override in overrides if override_key(override).split(".")[0] == "data"]
    if given:
        raise UserError(f"task={task} learns from an environment, not from data ({given[0]})",
                        f"drop {override_key(given[0])} and choose {ENVIRONMENTS}")


def _in_pixel_range_for_the_task(config: dict[str, Any]) -> None:
    """A task that rebuilds or generates images (`models_pixels`) sees them in their own range: a dataset's
    normalization (image_folder's and CIFAR's ImageNet statistics) would put real images where its outputs
    cannot go, so it is turned off, saying so; the saved config records it for eval, predict and generate."""
    from dltrain.assemble import task_attribute

    if task_attribute(config["task"].get("_target_"), "models_pixels", False) and config["data"].get("normalize"):
        config["data"]["normalize"] = None
        log.info("data.normalize is off: this task models the images' own pixels, in [0, 1]")


def _monitoring_the_task(config: dict[str, Any], task, data) -> None:
    """A task that judges itself by another metric than val/loss (DQN: val/return, higher is better) has best.ckpt and
    early stopping follow it. An environment with a solved return (CartPole: 475) stops training once it is
    reached, and only then: a return that stalls for a while can still take off. The run's config records this."""
    monitor = getattr(task, "monitor", "val/loss")
    if monitor in (None, "val/loss"):
        return
    solved = getattr(data, "solved_return", None)
    for node in (config.get("callbacks") or {}).values():
        if not node or "monitor" not in node:
            continue
        node.update(monitor=monitor, mode=task.monitor_mode)
        if "patience" in node and solved is not None:
            epochs = config["trainer"]["max_epochs"]
            node.update(stopping_threshold=solved, patience=epochs if epochs and epochs > 0 else 1_000_000)


def _without_a_logger(callbacks: list, logger: Any) -> list:
    """Without a logger (logger=null) the learning-rate monitor, which only writes to one, is left out: metrics.csv
    still has each epoch's learning rate."""
    from pytorch_lightning.callbacks import LearningRateMonitor

    return callbacks if logger else [callback for callback in callbacks
                                     if not isinstance(callback, LearningRateMonitor)]


def _following_the_task(callbacks: list, task) -> list:
    """A task whose losses say nothing of quality (a GAN) monitors nothing (`monitor = None`): its best.ckpt is then the
    latest epoch, and early stopping is left out."""
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    if getattr(task, "monitor", "val/loss") is not None:
        return callbacks
    kept = [callback for callback in callbacks if not isinstance(callback, EarlyStopping)]
    for callback in kept:
        if isinstance(callback, ModelCheckpoint):
            # Without a monitor the mode is unused; "max" keeps its checkpoint state apart from last.ckpt's callback.
            callback.monitor, callback.mode = None, "max"
    if len(kept) < len(callbacks):
        log.info("this task monitors no metric: early stopping is off and best.ckpt holds the latest epoch")
    return kept


def _global_step(checkpoint: Path) -> int:
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["global_step"])


def model_name(model) -> str:
    """The model as its config names it (ResNet-18, bidirectional LSTM ...): its `display_name` when it has one."""
    return getattr(model, "display_name", None) or type(model).__name__


def check_finite(metrics: dict[str, float]) -> None:
    """metrics.json never holds NaN: test metrics that are not finite end the run as diverged."""
    import math

    from dltrain.errors import Diverged

    bad = {name: value for name, value in metrics.items() if not math.isfinite(value)}
    if bad:
        raise Diverged(f"the test metrics are not finite ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                       "metrics.json was not written", "lower optimizer.lr or clip gradients with "
                       "trainer.gradient_clip_val=1.0, then train again")


def ending(error: BaseException) -> str:
    """The status.json word for how a run that raised `error` ended."""
    from dltrain.errors import Diverged, Interrupted

    if isinstance(error, Diverged):
        return "diverged"
    return "interrupted" if isinstance(error, (Interrupted, KeyboardInterrupt)) else "failed"


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


def out_of_memory(error: BaseException, config: dict[str, Any]):
    """Running out of accelerator (or host) memory, as one line naming the batch size and what to try."""
    from dltrain.errors import UserError, first_line

    size = config["data"].get("batch_size")
    half = max(1, (size or 2) // 2)
    return UserError(f"out of memory with data.batch_size={size}: {first_line(error)[:160]}",
                     f"pass data.batch_size={half}, or data.batch_size={half} trainer.accumulate_grad_batches=2 "
                     "to keep the effective batch")


def _header_rows(data, model, trainer, resume_from: Path | None = None,
                 channels_last: bool = False) -> list[tuple[str, str]]:
    """What a run is about to do: the model, the data and its splits, the device, where the files go."""
    import torch

    from dltrain.data.in_memory import SPLITS

    parameters = sum(parameter.numel() for parameter in model.parameters())
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    weights = f"{count(parameters)} parameters"
    if trainable != parameters:
        weights += f" ({count(trainable)} trainable)"
    spec = data.spec
    splits = data.splits_summary() if hasattr(data, "splits_summary") else " / ".join(
        f"{count(data.split_size(split))} {split}" for split in SPLITS)
    device = trainer.strategy.root_device
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    if trainer.world_size > 1:
        where += f", {trainer.world_size} processes ({trainer.num_nodes} node{'s' if trainer.num_nodes > 1 else ''})"
    stopping = trainer.early_stopping_callback
    limit = trainer.max_epochs
    epochs = f"at most {limit} epoch{'s' if limit > 1 else ''}" if limit and limit > 0 else "no epoch limit"
    if trainer.max_steps is not None and trainer.max_steps > 0:
        epochs += f" or {trainer.max_steps} step{'s' if trainer.max_steps > 1 else ''}"
    if stopping is not None and stopping.stopping_threshold is not None:
        epochs += f", stopping when {stopping.monitor} reaches {stopping.stopping_threshold:g}"
    elif stopping is not None:
        epochs += f", stopping after {stopping.patience} without {stopping.monitor} improving"
    rows = [("model", f"{model_name(model)}, {weights}"),
            ("data", f"{_data_name(data)}: {describe_inputs(spec, spec.get('input_kind'))}; {splits}")]
    rows += [(f"data.{key}", f"{_shown_value(value)} ({why})") for key, (value, why) in data.decided.items()]
    layout = "; channels-last" if channels_last else ""
    rows += [("device", f"{where}; precision {trainer.precision}{layout}"), ("training", epochs),
             ("run directory", _shown_path(Path(trainer.default_root_dir)))]
    if resume_from is not None:
        rows.append(("resumed from", _shown_path(resume_from)))
    return rows


def _shown_value(value: Any) -> str:
    """As it would be typed on the command line: [a,b] for a list."""
    return f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)


def _data_name(data) -> str:
    """The data option the command line chose; an environment's id (what env= chose is recorded as the data)."""
    from dltrain.assemble import chosen_option

    return getattr(data, "env_id", None) or chosen_option("data") or type(data).__name__


def _shown_path(path: Path) -> str:
    """Relative to the working directory when under it, as the user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
