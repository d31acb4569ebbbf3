"""Shared helpers: run the real `dltrain` command in a subprocess from a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test processes share the machine's cores: one thread each (and in every dltrain they start) keeps
    # them from fighting over the same cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_dltrain(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "DLTRAIN_DEBUG"}
    environment.update({"PYTHONWARNINGS": "ignore", **(env or {})})
    return subprocess.run([sys.executable, "-m", "dltrain", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment)


def run_in_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`dltrain *args` run in this process, from `cwd`: a user error costs a fraction of a second instead of the
    seconds of importing Lightning in a new process, a training as many seconds less. The process-wide settings a
    command may change (logging, deterministic kernels) are put back."""
    import contextlib
    import io
    import logging

    import torch
    from hydra.core.global_hydra import GlobalHydra

    from dltrain.cli import main

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    deterministic = torch.are_deterministic_algorithms_enabled()
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(list(args))
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
    finally:
        os.chdir(previous)
        GlobalHydra.instance().clear()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
        torch.use_deterministic_algorithms(deterministic)
    return subprocess.CompletedProcess(["dltrain", *args], code, stdout.getvalue(), stderr.getvalue())


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The promise for every bad input: exit code 2, one line `error: <what> — <fix>` holding each fragment,
    no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and " — " in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def dltrain(tmp_path: Path):
    """dltrain(*args) runs the command in tmp_path and returns the CompletedProcess: in this process (a new one
    costs seconds of imports), or in a new one where `env` is set (environment variables are read at start-up)."""
    def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        if env is not None:
            return run_dltrain(*args, cwd=tmp_path, timeout=timeout, env=env)
        return run_in_process(*args, cwd=tmp_path)
    return run


def only_run_dir(root: Path) -> Path:
    """The single run directory under root/runs (runs/<date>/<time>)."""
    runs = [path for path in (root / "runs").glob("*/*") if path.is_dir() and path.parent.name != "multirun"]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture
def iris_like_csv(tmp_path: Path) -> Path:
    """A small CSV in the shape of a user's file: numeric features, string labels, three separable classes."""
    import random

    rng = random.Random(0)
    lines = ["petal_length,petal_width,colour_code,species"]
    for index in range(150):
        species = ["setosa", "versicolor", "virginica"][index % 3]
        centre = {"setosa": 1.5, "versicolor": 4.3, "virginica": 5.6}[species]
        lines.append(f"{centre + rng.gauss(0, 0.3):.3f},{centre / 3 + rng.gauss(0, 0.1):.3f},"
                     f"{rng.randint(0, 9)},{species}")
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
