"""A CSV file with a header row, read as text once: its columns found by name, its cells turned into numbers.

Shared by the sources whose examples are CSV rows (data=tabular, data=signals) and by predict, which reads new
rows the same way. Missing cells are told apart from cells that are wrong, since the user's remedy differs.
The separator is the one that splits the header into the most fields: a comma, or what spreadsheets write in
locales whose decimal mark is a comma (a semicolon, "1,5;2,25") and tab-separated files; with any other separator
than a comma, a number written with a decimal comma reads as its number.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from dltrain.data.text_encoding import decoded_text
from dltrain.errors import UserError, suggestion

# What a spreadsheet, pandas or R writes into a cell that has no value (compared without case).
MISSING_MARKS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
FEATURE_FIX = "fix the cell, or list only numeric columns in data.feature_columns=[...]"
SEPARATORS = (",", ";", "\t", "|")
DECIMAL_COMMA = re.compile(r"\s*[+-]?\d*,\d+\s*")


@dataclass
class CsvTable:
    path: Path
    header: list[str]
    # The file's line of each row, for errors that point at one.
    lines: list[int]
    rows: list[list[str]]

    def positions(self, names: list[str], key: str) -> list[int]:
        """Where the columns `names` are; a name the header lacks is a user error naming `key` (the setting that
        asked for it) and the closest column."""
        for name in names:
            if name not in self.header:
                hint = suggestion(name, self.header)
                raise UserError(f"{self.path} has no column '{name}' ({key})",
                                f"{hint + ' ' if hint else ''}its columns are: {', '.join(self.header)}")
        return [self.header.index(name) for name in names]

    def numbers(self, positions: list[int], fix: str = "fix the cell") -> list[list[float]]:
        """The cells at `positions` of every row as numbers, NaN where a cell is missing (see MISSING_MARKS); `fix`
        is the hint when one is text."""
        return [[self.number(row, position, line, fix) for position in positions]
                for line, row in zip(self.lines, self.rows, strict=True)]

    def number(self, row: list[str], position: int, line: int, fix: str) -> float:
        return cell_number(row[position], f"{self.path} line {line}, column '{self.header[position]}'", fix)


def cell_number(text: str, place: str, fix: str) -> float:
    """The number a cell holds, NaN when it is missing (see MISSING_MARKS); text or infinity is a user error naming
    `place`, with `fix` the hint for text."""
    text = text.strip()
    if text.lower() in MISSING_MARKS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{place}: '{text}' is not a number", fix) from None
    if not math.isfinite(value):
        raise UserError(f"{place}: '{text}' is not a finite number",
                        "replace it: infinity would make every loss infinite")
    return value


def read_csv_table(path: Path, example: str = "data.path=data/iris.csv", encoding: str = "utf-8") -> CsvTable:
    """Every non-blank row of the CSV file at `path`, each as long as its header (see text_encoding for
    `encoding`)."""
    if not path.is_file():
        raise UserError(f"data.path: no such file '{path}'",
                        f"pass the path of a CSV file with a header row, e.g. {example}")
    text = decoded_text(path, encoding)
    separator = _separator(text.partition("\n")[0].rstrip("\r"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header = [name.strip() for name in next(reader, [])]
    numbered = [(line, row) for line, row in enumerate(reader, start=2) if any(cell.strip() for cell in row)]
    if separator != ",":
        numbered = [(line, [_decimal_point(cell) for cell in row]) for line, row in numbered]
    if not header or not numbered:
        raise UserError(f"{path} has no data rows", "give a CSV file with a header row and data rows")
    for line, row in numbered:
        if len(row) != len(header):
            raise UserError(f"{path} line {line} has {len(row)} fields, the header has {len(header)}",
                            f"fix the row or quote fields that contain {_named(separator)}")
    return CsvTable(path, header, [line for line, _ in numbered], [row for _, row in numbered])


def _separator(header_line: str) -> str:
    """The separator that splits the header line into the most fields; a comma when none splits it."""
    fields = {separator: len(next(csv.reader([header_line], delimiter=separator), [])) for separator in SEPARATORS}
    return max(SEPARATORS, key=fields.__getitem__)


def _decimal_point(cell: str) -> str:
    return cell.replace(",", ".") if "," in cell and DECIMAL_COMMA.fullmatch(cell) else cell


def _named(separator: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}[separator]


def label_order(label: str) -> tuple:
    """Numeric labels (and categories) sort as numbers (2 before 10), other labels alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
