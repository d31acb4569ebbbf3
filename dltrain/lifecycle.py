"""A run directory's life: claimed by one run only, continued by `resume=`, and its status kept in status.json.

No torch or Lightning here: these checks run before Hydra writes anything, so a refused command leaves no trace.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from dltrain.errors import UserError

RUNS_ROOT = Path("runs")
# What `resume=` lets a command line change: how long to train, where, and how to log; the rest is the run's own.
RESUMABLE_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.devices", "trainer.accelerator",
                  "trainer.num_nodes", "verbose", "last_checkpoint_every", "resume")
RESUMABLE_GROUPS = ("logger",)
# What dltrain writes into a run directory: what `overwrite=true` removes, and nothing else.
RUN_FILES = ("checkpoints", "logs", "tensorboard", "export", ".hydra", "config.yaml", "metrics.csv", "metrics.json",
             "status.json", "train.log", "eval.json", "confusion_matrix.png", "predicted_vs_true.png", "per_class.csv",
             "reconstructions.png", "samples.png", "samples")
STATUS_FILE = "status.json"


def override_key(override: str) -> str:
    """The key (or group) an override sets: `+data.root=x` -> data.root."""
    return override.split("=", 1)[0].lstrip("+~")


def option(overrides: list[str], key: str) -> str | None:
    """The value a command line gives `key` (the last one wins, as in Hydra), or None."""
    values = [override.split("=", 1)[1] for override in overrides if "=" in override and override_key(override) == key]
    return values[-1] if values else None


def check_resume_overrides(overrides: list[str]) -> None:
    for override in overrides:
        key = override_key(override)
        if key in RESUMABLE_KEYS or key in RESUMABLE_GROUPS or key.startswith(("hydra.", "logger.")):
            continue
        raise UserError(f"'{override}' cannot change on resume: a resumed run keeps its own config",
                        f"resume takes only {', '.join(RESUMABLE_KEYS[:-1])} and logger; start a new run to change "
                        f"{key}")


def resume_directory(value: str) -> Path:
    """`resume=DIR`, or `resume=last`: the most recently written run under runs/ that has a checkpoint."""
    if value == "last":
        candidates = [path.parent.parent for path in RUNS_ROOT.glob("**/checkpoints/last.ckpt")]
        if not candidates:
            raise UserError(f"resume=last: no run under {RUNS_ROOT}/ has checkpoints/last.ckpt",
                            "pass resume=DIR with a run directory made by dltrain train")
        return max(candidates, key=lambda run: (run / "checkpoints" / "last.ckpt").stat().st_mtime)
    folder = Path(value).expanduser()
    if not (folder / "config.yaml").is_file():
        raise UserError(f"resume={value}: {folder} is not a run directory (it has no config.yaml)",
                        "pass a folder made by dltrain train, e.g. resume=runs/2026-11-24/10-00-00, or resume=last")
    if not any((folder / "checkpoints" / name).is_file() for name in ("last.ckpt", "best.ckpt")):
        raise UserError(f"resume={value}: {folder} has no checkpoint to resume from",
                        "the run stopped before its first epoch ended; start it again without resume=")
    return folder


def resumed_config(saved: dict[str, Any], composed: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The run's own config with only what the command line may change on resume taken from `composed`."""
    config = copy.deepcopy(saved)
    for override in overrides:
        key = override_key(override)
        if key in RESUMABLE_GROUPS or key.startswith("logger."):
            config["logger"] = composed.get("logger")
        elif key in RESUMABLE_KEYS:
            node, composed_node = config, composed
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
                composed_node = composed_node.get(part, {})
            node[leaf] = composed_node.get(leaf)
    _stretch_epoch_schedule(config, saved)
    return config


def _stretch_epoch_schedule(config: dict[str, Any], saved: dict[str, Any]) -> None:
    """A schedule over the whole run (cosine's T_max resolved from trainer.max_epochs) stays over the whole run when
    the run is extended; one-cycle's total_steps, left null, follows by itself."""
    scheduler = config.get("scheduler") or {}
    before, after = saved.get("trainer", {}).get("max_epochs"), config.get("trainer", {}).get("max_epochs")
    if before != after and scheduler.get("T_max") is not None and scheduler.get("T_max") == before:
        config["scheduler"] = {**scheduler, "T_max": after}


def holds_a_run(folder: Path) -> bool:
    return (folder / "checkpoints").is_dir() or (folder / STATUS_FILE).is_file()


def claim_run_directory(sweep: bool = False) -> Path:
    """runs/<date>/<time> (runs/multirun/... for a sweep) made for this run alone, as Hydra would name it; a second
    run started in the same second gets <time>-2. Making the folder is the claim: mkdir fails for all but one."""
    stamp = time.localtime()
    day, second = time.strftime("%Y-%m-%d", stamp), time.strftime("%H-%M-%S", stamp)
    parent = RUNS_ROOT / "multirun" / day if sweep else RUNS_ROOT / day
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (second if attempt == 1 else f"{second}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise UserError(f"cannot claim a run directory under {parent}", "pass hydra.run.dir=DIR")


def refuse_or_clear(folder: Path, overwrite: bool) -> None:
    """A folder that holds a run is not trained into again unless `overwrite=true`, which removes the files a
    run writes there (only those)."""
    if not holds_a_run(folder):
        return
    status = read_status(folder).get("status", "unknown")
    if not overwrite:
        raise UserError(f"{folder} already holds a run (status: {status})",
                        f"pass resume={folder} to continue it, overwrite=true to replace it, or another hydra.run.dir")
    here = Path.cwd().resolve()
    if folder.resolve() in (here, *here.parents):
        raise UserError(f"overwrite=true would clear {folder}, which holds the working directory",
                        "pass a run directory of its own with hydra.run.dir")
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def read_status(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_status(folder: Path, status: str, **details: Any) -> None:
    """status.json: running, finished, interrupted, diverged or failed, with the host, pid and command line."""
    from dltrain.files import write_json_atomic

    record = read_status(folder) if status != "running" else {}
    record.update({"status": status, "host": socket.gethostname(), "pid": os.getpid(),
                   "command": " ".join(["dltrain", *sys.argv[1:]]), **details})
    record.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S"))
    if status != "running":
        record["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json_atomic(folder / STATUS_FILE, record)
