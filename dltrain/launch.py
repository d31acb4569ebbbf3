"""Run a command the Hydra way (overrides, -m sweeps, --cfg, --help) after checking its command line.

Hydra reports its own errors with a traceback and exit code 1; checking the overrides first turns the
common mistakes into one-line user errors, and wrapping the command does the same for errors found later.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dltrain.configs import config_dir
from dltrain.errors import SearchError, UserError, debugging, report


def launch(command: str, args: list[str]) -> int:
    """Hydra's own entry (what @hydra.main runs), given the arguments after the command.

    sys.argv is left as the user typed it: Lightning's DDP launcher re-runs it for every extra process.
    """
    from hydra import version
    from hydra._internal.utils import _run_hydra, get_args_parser

    parser = get_args_parser()
    parsed = parser.parse_args([_unaliased(command, arg) for arg in args])
    if not (parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion):
        from dltrain.config_check import (
            check_command_line,
            data_keys_as_set,
            force_keys_of_swept_groups,
            nulled_components_as_set,
            nulls_as_left_out,
        )

        parsed.overrides = nulled_components_as_set(nulls_as_left_out(parsed.overrides))
        if command == "eval":
            parsed.overrides = data_keys_as_set(parsed.overrides)
        if command == "train":
            parsed.overrides = _fitting_the_task(parsed.overrides)
        check_command_line(parsed.config_name or command, parsed.overrides, parsed.multirun)
        if parsed.multirun:
            parsed.overrides = force_keys_of_swept_groups(parsed.overrides)
        if command in RUN_COMMANDS and not parsed.cfg and os.environ.get("LOCAL_RANK", "0") == "0":
            parsed.overrides = _with_run_directory(command, parsed.overrides, parsed.multirun)
    if debugging():
        os.environ["HYDRA_FULL_ERROR"] = "1"
    module = importlib.import_module(f"dltrain.commands.{command}")
    version.setbase("1.3")
    _run_hydra(args=parsed, args_parser=parser, task_function=_reporting_user_errors(module.run),
               config_path=str(config_dir()), config_name=command)
    return 0


# Commands that write a run directory: each run gets one of its own, never one that holds another run.
RUN_COMMANDS = ("train", "transfer")


def _with_run_directory(command: str, overrides: list[str], multirun: bool) -> list[str]:
    """The overrides with the run's directory made explicit: the one `resume=` names, or a given one that holds no
    other run (unless overwrite=true), or a fresh one claimed for this run alone (Hydra's default names only
    the second, so two runs started in the same second would share one). DDP's extra processes are given rank
    0's directory by Lightning and skip all this."""
    from dltrain import lifecycle

    resume = lifecycle.option(overrides, "resume")
    if resume not in (None, "null"):
        if command != "train" or multirun:
            raise UserError("resume= continues one run of dltrain train", "run dltrain train resume=DIR, without -m")
        lifecycle.check_resume_overrides(overrides)
        folder = lifecycle.resume_directory(resume)
        kept = [override for override in overrides if not override.startswith(("resume=", "hydra.run.dir="))]
        return [*kept, f"resume={folder}", f"hydra.run.dir={folder}"]
    if multirun:
        given = lifecycle.option(overrides, "hydra.sweep.dir")
        return overrides if given else [*overrides, f"hydra.sweep.dir={lifecycle.claim_run_directory(sweep=True)}"]
    given = lifecycle.option(overrides, "hydra.run.dir")
    if given is not None:
        overwrite = lifecycle.option(overrides, "overwrite") == "true"
        lifecycle.refuse_or_clear(Path(given).expanduser(), overwrite)
        return overrides
    return [*overrides, f"hydra.run.dir={lifecycle.claim_run_directory()}"]


def _fitting_the_task(overrides: list[str]) -> list[str]:
    """A task chosen on the command line that learns from an environment (task=dqn) refuses data settings; a task's
    `implied_overrides` (DQN: an MLP Q-network, a constant learning rate of 5e-4, where the command's defaults are
    LeNet-5 and Adam at 3e-3 on a cosine schedule) join the command line, each unless its key is given there."""
    from dltrain import lifecycle
    from dltrain.assemble import task_attribute
    from dltrain.configs import group_options, option_target

    task = lifecycle.option(overrides, "task")
    if task not in group_options("task"):
        return overrides
    target = option_target("task", task)
    if task_attribute(target, "learns_from") == "environment":
        from dltrain.commands.train import refuse_data_settings

        refuse_data_settings(task, overrides)
    given = {lifecycle.override_key(override) for override in overrides}
    implied = task_attribute(target, "implied_overrides", ())
    return [*overrides, *(override for override in implied if lifecycle.override_key(override) not in given)]


# `dltrain predict model=deploy/model.onnx`: `model` names a config group, which Hydra would try to choose from.
ALIASES = {"predict": {"model": "model_file"}, "generate": {"model": "model_file"}}


def _unaliased(command: str, arg: str) -> str:
    key, equals, value = arg.partition("=")
    return f"{ALIASES[command][key]}={value}" if equals and key in ALIASES.get(command, {}) else arg


def _reporting_user_errors(run: Callable) -> Callable:
    """The command, its user errors printed in one line and ending the process with exit code 2; in a hyperparameter
    search (a config with `search`) a trial's error, printed the same way, ends that trial only: raised to Hydra,
    which hands it to the sweeper, which records a failed trial and goes on."""
    def task(cfg) -> Any:
        _configure_logging(bool(cfg.get("verbose", False)))
        try:
            return run(cfg)
        except UserError as error:
            if debugging():
                raise
            _discard_unfinished_output()
            if cfg.get("search") and not isinstance(error, SearchError):
                if _every_trial_failed():
                    sys.exit(report(SearchError(f"every trial of the search failed, the last with: {error.what}",
                                                error.fix)))
                report(error)
                raise
            sys.exit(report(error))

    return task


# Failed trials of each search run in this process, by sweep directory.
_failed_trials: dict[str, int] = {}


def _every_trial_failed() -> bool:
    """Whether this failed trial is the search's last and every one before it failed too: the sweeper would then
    fail on a search without a result (optuna: "No trials are completed yet", a traceback). Counts the trials that
    run in this process, as Hydra's own launcher runs them; trials in other processes (hydra/launcher=local, slurm)
    are not seen."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hydra_cfg = HydraConfig.get()
    sweep = str(hydra_cfg.sweep.dir)
    _failed_trials[sweep] = _failed_trials.get(sweep, 0) + 1
    trials = OmegaConf.select(hydra_cfg, "sweeper.n_trials")
    return isinstance(trials, int) and _failed_trials[sweep] >= trials


def _configure_logging(verbose: bool) -> None:
    """Commands with a run directory (train, transfer) keep the full log there, as <job name>.log."""
    from hydra.core.hydra_config import HydraConfig

    from dltrain.console import configure_logging

    hydra_cfg = HydraConfig.get()
    log_file = (Path(hydra_cfg.runtime.output_dir) / f"{hydra_cfg.job.name}.log"
                if hydra_cfg.output_subdir is not None else None)
    configure_logging(log_file, verbose)


def _discard_unfinished_output() -> None:
    """Remove what Hydra and the command wrote for a run that never started, and the folders left empty."""
    from hydra.core.hydra_config import HydraConfig

    from dltrain.console import close_log_file

    hydra_cfg = HydraConfig.get()
    output = Path(hydra_cfg.runtime.output_dir)
    close_log_file()
    # Under DDP every process meets the error; the first one cleans up. A run that started training keeps its
    # directory (status.json says how it ended).
    started = (output / "checkpoints").exists() or (output / "status.json").exists()
    if started or os.environ.get("LOCAL_RANK", "0") != "0":
        return
    for name in (hydra_cfg.output_subdir, f"{hydra_cfg.job.name}.log", "config.yaml"):
        path = output / name if name else None
        if path is not None and path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        elif path is not None and path.exists():
            path.unlink()
    cwd = Path.cwd().resolve()
    if output.resolve() != cwd:
        for folder in (path for path in output.iterdir() if path.is_dir()):
            with contextlib.suppress(OSError):  # an empty logger folder made before the error
                folder.rmdir()
    folder = output.resolve()
    while folder != cwd and cwd in folder.parents and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
