"""Reading labelled or unlabelled texts from CSV, TSV, JSON Lines or plain text files (no Lightning here:
predict reads with it too)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from dltrain.data.text_encoding import decoded_text
from dltrain.errors import UserError, suggestion

JSON_LINES_HINT = 'write one JSON object per line, e.g. {"text": "great film", "label": "pos"}'
FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": None, ".ndjson": None, ".json": None}
Record = tuple[int, str, str]  # line number, text, label


def read_records(path: Path, text_column: str, label_column: str, encoding: str = "utf-8") -> list[Record]:
    """(line, text, label) of every row of a CSV/TSV file with a header, or of a JSON Lines file of objects (see
    text_encoding for `encoding`)."""
    records = []
    for line, row in read_rows(path, encoding):
        for column, key in ((text_column, "data.text_column"), (label_column, "data.label_column")):
            _require_column(path, line, row, column, key)
        text, label = _cell(row[text_column]), _cell(row[label_column])
        if not text.strip():
            raise UserError(f"{path} line {line}: the text ('{text_column}') is empty",
                            "remove the row or fill in its text")
        if not label:
            raise UserError(f"{path} line {line}: the label ('{label_column}') is empty",
                            "remove the row or fill in its label")
        records.append((line, text, label))
    if not records:
        raise UserError(f"{path} has no rows", "give a file with a header row and one text per row")
    return records


def read_texts(path: Path, text_column: str, encoding: str = "utf-8") -> list[tuple[int, str]]:
    """(line, text) of a plain text file (one text per line) or of the `text_column` of a CSV/TSV/JSONL file."""
    if path.suffix.lower() == ".txt":
        lines = enumerate(decoded_text(path, encoding).splitlines(), start=1)
        return [(line, text.strip()) for line, text in lines if text.strip()]
    texts = []
    for line, row in read_rows(path, encoding):
        _require_column(path, line, row, text_column, "data.text_column")
        if _cell(row[text_column]):
            texts.append((line, _cell(row[text_column])))
    return texts


def read_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """(line, row as a dict) of a CSV/TSV file with a header or of a JSON Lines file, by the file's suffix."""
    if not path.is_file():
        raise UserError(f"no such file '{path}'", "pass a CSV, TSV or JSON Lines file of texts, e.g. reviews.csv")
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"{path}: unknown text file type '{path.suffix}'",
                        "use .csv, .tsv or .jsonl (one JSON object per line)")
    delimiter = FORMATS[path.suffix.lower()]
    text = decoded_text(path, encoding)
    return _json_lines(path, text) if delimiter is None else _delimited(text, delimiter)


def _require_column(path: Path, line: int, row: dict, column: str, key: str) -> None:
    if column not in row:
        hint = suggestion(column, list(row))
        raise UserError(f"{path} line {line} has no column '{column}' ({key})",
                        f"{hint + ' ' if hint else ''}its columns are: {', '.join(map(str, row))}")


def _cell(value: object) -> str:
    return "" if value is None else str(value).strip()


def _delimited(text: str, delimiter: str) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for row in reader:
        if any(value and value.strip() for value in row.values() if isinstance(value, str)):
            yield reader.line_num, row


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    for line, content in enumerate(text.split("\n"), start=1):
        if not content.strip():
            continue
        try:
            row = json.loads(content)
        except json.JSONDecodeError as error:
            raise UserError(f"{path} line {line} is not valid JSON: {error.msg}", JSON_LINES_HINT) from None
        if not isinstance(row, dict):
            raise UserError(f"{path} line {line} is not a JSON object", JSON_LINES_HINT)
        yield line, row
