"""A non-editable install carries conf/ inside the package and works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_the_configs_and_runs_from_anywhere(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("dltrain-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {name.removeprefix("dltrain/conf/") for name in names if name.startswith("dltrain/conf/")}
    in_repo = {str(path.relative_to(ROOT / "conf")) for path in (ROOT / "conf").rglob("*.yaml")}
    assert shipped == in_repo
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(target)}
    probe = "import dltrain.configs as c; print(c.config_dir())"
    located = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=environment, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert located == str(target / "dltrain" / "conf")
    listing = subprocess.run([sys.executable, "-m", "dltrain", "ls", "model"], cwd=elsewhere, env=environment,
                             capture_output=True, text=True, check=True).stdout
    assert "lenet" in listing and "mlp" in listing
    configured = subprocess.run([sys.executable, "-m", "dltrain", "train", "model=mlp", "--cfg", "job"],
                                cwd=elsewhere, env=environment, capture_output=True, text=True)
    assert configured.returncode == 0, configured.stderr
    assert "dltrain.models.mlp.MLP" in configured.stdout
