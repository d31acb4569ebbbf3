"""Atomic writes: a failure part-way leaves neither a partial target nor a temporary file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dltrain.files import write_atomic, write_json_atomic


def test_failed_write_leaves_the_old_file_and_no_debris(tmp_path: Path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"test/acc": 0.5})

    def crash(temporary: Path) -> None:
        temporary.write_text("{half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, crash)
    assert json.loads(target.read_text()) == {"test/acc": 0.5}
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]


def test_parent_folders_are_created(tmp_path: Path):
    target = write_json_atomic(tmp_path / "a" / "b" / "out.json", {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
