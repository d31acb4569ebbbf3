"""Loggers: Lightning's CSV logger, made to survive a run's life (resumed, its earlier rows are kept: Lightning's own
writer deletes the file when it finds one; a kill never leaves half a row: new rows are appended in one write, and the
file is replaced atomically when its columns change); Lightning's MLflow and W&B loggers, given the whole run.
`finish_run(run_dir)` is called once a run has ended and its directory is complete."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lightning_fabric.loggers.logger import rank_zero_experiment
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from dltrain.errors import UserError
from dltrain.files import add_csv_rows


class ResumableMetricsWriter(ExperimentWriter):
    """Keeps the rows already in metrics.csv whose step comes before `resumed_step` (None: a new run keeps none).
    Lightning saves after every logging call: rewriting the whole file each time made a long run's logging grow
    with the square of its length, so rows are appended, and the file rewritten only when a new column appears."""

    def __init__(self, log_dir: str, resumed_step: int | None = None) -> None:
        path = Path(log_dir) / self.NAME_METRICS_FILE
        kept: list[dict[str, Any]] = []
        if resumed_step is not None and path.is_file():
            with open(path, newline="", encoding="utf-8") as handle:
                kept = [row for row in csv.DictReader(handle) if row.get("step") and int(row["step"]) < resumed_step]
        super().__init__(log_dir)
        self.rows = kept
        self.metrics_keys = sorted({key for row in kept for key in row})
        self.written = False

    def _check_log_dir_exists(self) -> None:
        """Lightning's writer deletes a metrics.csv it finds here; this one rewrites it with the kept rows first."""

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        fresh, self.metrics = self.metrics, []
        self.rows += fresh
        add_csv_rows(self.metrics_file_path, fresh, self.rows, self.metrics_keys,
                     rewrite=bool(new_keys) or not self.written)
        self.written = True


class CSVLogger(LightningCSVLogger):
    """Every logged value, step by step, in <save_dir>/<name>/metrics.csv. dltrain sets `resumed_step` when a run
    resumes, before anything is logged."""

    resumed_step: int | None = None

    @property
    @rank_zero_experiment
    def experiment(self) -> ResumableMetricsWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumableMetricsWriter(self.log_dir, self.resumed_step)
        return self._experiment


class MLflowLogger(MLFlowLogger):
    """Lightning's MLflow logger, keeping a run's whole record in MLflow: the resolved config as parameters
    (flattened keys: optimizer/lr), every epoch's figures as metrics (what Lightning logs), and, once the run has
    ended, the run directory's files as artifacts (`log_checkpoints` decides whether the checkpoints go too: they
    can be large)."""

    def __init__(self, experiment_name: str = "dltrain", tracking_uri: str = "sqlite:///mlflow.db",
                 run_name: str | None = None, log_checkpoints: bool = False, **options: Any) -> None:
        from lightning_fabric.utilities.imports import RequirementCache

        if not RequirementCache("mlflow"):
            raise UserError("logger=mlflow needs the 'mlflow' package, which is not installed",
                            "pip install 'dltrain[tracking]' (or pip install mlflow), or choose logger=csv")
        self.log_checkpoints = log_checkpoints
        super().__init__(experiment_name=experiment_name, run_name=run_name, tracking_uri=tracking_uri, **options)

    @rank_zero_only
    def finish_run(self, folder: Path) -> None:
        """Every file of the finished run directory, under the same relative paths."""
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if not path.is_file() or (relative.parts[0] == "checkpoints" and not self.log_checkpoints):
                continue
            parent = relative.parent.as_posix()
            self.experiment.log_artifact(self.run_id, str(path), artifact_path=None if parent == "." else parent)


class WandbLogger(LightningWandbLogger):
    """Lightning's Weights & Biases logger, whose run ends with dltrain's: Lightning leaves it open (for more fits
    and tests), so that the jobs of a sweep run in one process would all log into the first one's, and an offline
    record would stay unwritten until the process exits."""

    @rank_zero_only
    def finish_run(self, folder: Path) -> None:
        self.experiment.finish()
