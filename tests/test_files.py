"""Atomic writes: a failure part-way leaves neither a partial target nor a temporary file; CSV files grow by
whole rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dltrain.files import add_csv_rows, write_atomic, write_json_atomic


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


def test_a_csv_file_grows_by_appended_rows_and_is_rewritten_for_a_new_column(tmp_path: Path):
    path = tmp_path / "metrics.csv"
    rows = [{"epoch": 0, "loss": 1.5}]
    add_csv_rows(path, rows, rows, ["epoch", "loss"], rewrite=True)
    first_write = path.stat().st_ino
    rows.append({"epoch": 1, "loss": 1.25})
    add_csv_rows(path, rows[-1:], rows, ["epoch", "loss"], rewrite=False)
    assert path.stat().st_ino == first_write  # appended, not replaced
    assert path.read_text() == "epoch,loss\n0,1.5\n1,1.25\n"

    rows.append({"epoch": 2, "loss": 1.0, "lr": 0.01})
    add_csv_rows(path, rows[-1:], rows, ["epoch", "loss", "lr"], rewrite=True)
    with open(path, newline="") as handle:
        assert list(csv.DictReader(handle)) == [{"epoch": "0", "loss": "1.5", "lr": ""},
                                               {"epoch": "1", "loss": "1.25", "lr": ""},
                                               {"epoch": "2", "loss": "1.0", "lr": "0.01"}]
    assert [item.name for item in tmp_path.iterdir()] == ["metrics.csv"]
