"""What a run directory says about its run, read from its own files (status.json, config.yaml, Hydra's record of the
choices and overrides, metrics.json, metrics.csv): for `dltrain runs`, without torch or Lightning.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.errors import UserError
from dltrain.lifecycle import STATUS_FILE, read_status

# Figures where more is better; every other figure (loss, rmse, mae, cer, wer, frechet ...) is better lower.
HIGHER_IS_BETTER = ("acc", "f1", "r2", "miou", "dice", "map", "psnr", "elbo", "return", "confident", "coverage",
                    "hit", "ndcg", "auc", "pixel_acc", "precision", "recall")
# The figure a table of runs shows first, by what the runs measured (the first one present).
HEADLINE = ("test/acc", "test/r2", "test/miou", "test/map", "test/return_mean", "test/psnr", "test/cer",
            "test/rmse", "test/loss")


@dataclass
class RunRecord:
    folder: Path
    status: dict[str, Any]
    choices: dict[str, str]
    overrides: list[str]
    metrics: dict[str, float]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """finished, interrupted, failed, diverged, or running; a run whose process is gone without saying how it
        ended (killed) counts as interrupted."""
        state = self.status.get("status", "unknown")
        here = self.status.get("host") == socket.gethostname()
        if state == "running" and here and not _alive(self.status.get("pid")):
            return "interrupted"
        return state

    @property
    def started(self) -> str:
        return str(self.status.get("started", "")).replace("T", " ")

    @property
    def epochs(self) -> str:
        epoch = self.status.get("epoch")
        return "" if epoch is None else str(epoch)

    @property
    def model(self) -> str:
        """The model option chosen, or the class of a model that came with its run (a transfer's source)."""
        target = (self.config.get("model") or {}).get("_target_", "")
        return self.choice("model") or target.rsplit(".", 1)[-1]

    def choice(self, group: str) -> str:
        return self.choices.get(group) or ""

    def curve(self, name: str) -> list[tuple[int, float]]:
        """(epoch, value) of a per-epoch figure in metrics.csv, the epochs that have it."""
        return [(int(row["epoch"]), float(row[name])) for row in self._epochs() if row.get(name) not in (None, "")]

    def epoch_figures(self) -> list[str]:
        """The per-epoch figures of metrics.csv (train/..., val/...)."""
        return sorted({name for row in self._epochs()[:1] for name in row if name.startswith(("train/", "val/"))})

    def _epochs(self) -> list[dict[str, str]]:
        try:
            with open(self.folder / "metrics.csv", newline="") as handle:
                return list(csv.DictReader(handle))
        except OSError:
            return []


def read_run(folder: Path) -> RunRecord:
    import yaml

    hydra = folder / ".hydra"
    choices: dict[str, str] = {}
    overrides: list[str] = []
    try:
        recorded = yaml.safe_load((hydra / "hydra.yaml").read_text()) or {}
        choices = {key: value for key, value in recorded["hydra"]["runtime"]["choices"].items()
                   if value is not None and not key.startswith("hydra/")}
        overrides = list(yaml.safe_load((hydra / "overrides.yaml").read_text()) or [])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        pass
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {}
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    return RunRecord(folder, read_status(folder), choices, overrides, metrics, config)


def find_runs(roots: list[Path]) -> list[RunRecord]:
    """Every run directory (one with a status.json) under each of `roots` (a run directory itself, a sweep folder or
    a tree of them), oldest first."""
    folders: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise UserError(f"no such run directory or folder of runs: '{root}'",
                            "pass a run directory, a sweep folder (runs/multirun/...) or a folder holding them")
        found = [root] if (root / STATUS_FILE).is_file() else sorted(path.parent for path in root.rglob(STATUS_FILE))
        folders += [folder for folder in found if folder not in folders]
    records = [read_run(folder) for folder in folders]
    return sorted(records, key=lambda record: (record.started, str(record.folder)))


def headline(records: list[RunRecord]) -> str | None:
    """The figure worth a column in a table of these runs: the first of HEADLINE that one of them measured."""
    measured = {name for record in records for name in record.metrics}
    return next((name for name in HEADLINE if name in measured), None)


def higher_is_better(metric: str) -> bool:
    name = metric.rsplit("/", 1)[-1]
    return any(name == word or name.startswith(f"{word}_") for word in HIGHER_IS_BETTER)


def differing_overrides(records: list[RunRecord]) -> list[list[str]]:
    """Each run's overrides that not every run shares: what tells the jobs of a sweep apart."""
    shared = set.intersection(*(set(record.overrides) for record in records)) if records else set()
    return [[override for override in record.overrides if override not in shared] for record in records]


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
