"""dltrain's regression on scikit-learn's diabetes table (442 patients, 10 features, disease progression after a
year), against scikit-learn's own LinearRegression fitted on the very same train split.

The table ships inside scikit-learn, in its original units; this writes it as a CSV and trains on it with the
command a user would type (`dltrain train task=regression model=mlp data=tabular ...`), once per seed (each seed
draws another split: 309 train / 44 val / 89 test rows). LinearRegression is fitted on the same 309 train rows
that the networks take gradient steps on, and scored on the same 89 test rows. Prints a table of test R², RMSE
and MAE (means over the seeds, with their spread) and writes benchmarks/results/diabetes_regression.json.
Run: .venv/bin/python benchmarks/diabetes_regression.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "diabetes_regression.json"
TRAIN = ["train", "task=regression", "model=mlp", "data=tabular", "data.path=diabetes.csv",
         "data.label_column=progression"]
MODELS = {
    # LinearRegression's model, by gradient descent: 309 rows are 5 batches an epoch, so it needs many epochs.
    "dltrain: linear (hidden_sizes=[], 300 epochs)": ["model.hidden_sizes=[]", "trainer.max_epochs=300",
                                                      "optimizer.lr=0.01", "callbacks.early_stopping=null"],
    "dltrain: MLP 256-128 (defaults, 30 epochs)": [],
    "dltrain: MLP 32, dropout 0.2, weight decay": ["model.hidden_sizes=[32]", "model.dropout=0.2",
                                                   "optimizer.weight_decay=0.01", "trainer.max_epochs=200"],
}


def write_table(path: Path) -> None:
    from sklearn.datasets import load_diabetes

    table = load_diabetes(scaled=False)
    rows = np.column_stack([table.data, table.target])
    np.savetxt(path, rows, delimiter=",", fmt="%.6g", comments="",
               header=",".join([*table.feature_names, "progression"]))


def linear_regression(folder: Path, seed: int) -> dict[str, float]:
    """scikit-learn's least squares on the split dltrain's data module draws for `seed`."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from dltrain.data.tabular import TabularDataModule

    data = TabularDataModule(path=str(folder / "diabetes.csv"), label_column="progression", targets="numbers",
                             seed=seed)
    data.setup()
    (train_x, train_y), (test_x, test_y) = data.splits["train"], data.splits["test"]
    predicted = LinearRegression().fit(train_x.numpy(), train_y.numpy()).predict(test_x.numpy())
    return {"test/r2": float(r2_score(test_y, predicted)),
            "test/rmse": float(np.sqrt(mean_squared_error(test_y, predicted))),
            "test/mae": float(mean_absolute_error(test_y, predicted))}


def dltrain(folder: Path, seed: int, overrides: list[str]) -> dict[str, float]:
    run = folder / f"run-{abs(hash(tuple(overrides)))}-{seed}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dltrain", *TRAIN, *overrides, f"seed={seed}", f"hydra.run.dir={run}"],
                   cwd=folder, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    metrics = json.loads((run / "metrics.json").read_text())
    return {**{key: metrics[key] for key in ("test/r2", "test/rmse", "test/mae")},
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    seeds = [int(seed) for seed in parser.parse_args().seeds.split(",")]
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_table(folder / "diabetes.csv")
        results["scikit-learn LinearRegression"] = [linear_regression(folder, seed) for seed in seeds]
        for name, overrides in MODELS.items():
            results[name] = [dltrain(folder, seed, overrides) for seed in seeds]

    print(f"diabetes, test split (89 rows), seeds {seeds}: mean (min-max)")
    print(f"{'model':<46} {'R²':>20} {'RMSE':>20} {'MAE':>20}")
    summary = {}
    for name, runs in results.items():
        figures = {key: [run[key] for run in runs] for key in ("test/r2", "test/rmse", "test/mae")}
        summary[name] = {key: {"mean": statistics.mean(values), "min": min(values), "max": max(values)}
                         for key, values in figures.items()}
        cells = [f"{statistics.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})" if key == "test/r2" else
                 f"{statistics.mean(v):.1f} ({min(v):.1f}-{max(v):.1f})" for key, v in figures.items()]
        print(f"{name:<46} {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"seeds": seeds, "summary": summary, "runs": results}, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
