"""Writing files so that a crash or a full disk never leaves a half-written one behind."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)` in the target's folder, then rename over `path` (atomic on POSIX)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; the file gets the usual permissions
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def add_csv_rows(path: str | os.PathLike, fresh: list[dict[str, Any]], every_row: list[dict[str, Any]],
                 columns: list[str], rewrite: bool) -> None:
    """A CSV file that grows by rows: `fresh` appended in one write (a kill never leaves half a row), or, when
    `rewrite` (the first write, a new column), the whole file, `every_row`, replaced atomically. Rewriting it at
    every addition made a long run's files cost the square of its length."""
    if rewrite:
        write_text_atomic(path, _csv_text(every_row, columns, header=True))
        return
    with open(path, "a", newline="", encoding="utf-8") as handle:
        handle.write(_csv_text(fresh, columns, header=False))


def _csv_text(rows: list[dict[str, Any]], columns: list[str], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@contextmanager
def staged_folder(target: str | os.PathLike, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """A temporary folder beside `target` to write into; when the block succeeds its files move into `target`
    (each by an atomic rename) and the files named in `replaces` that it did not write are removed from
    `target` (an earlier set they would contradict); when it fails it is removed: never a half-written set."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
        target.mkdir(exist_ok=True)
        written = {item.name for item in staging.iterdir()}
        for item in sorted(staging.iterdir()):
            os.replace(item, target / item.name)
        for name in set(replaces) - written:
            (target / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
