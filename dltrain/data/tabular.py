"""A user's CSV file: numeric feature columns and one label column, standardized on the train split."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from dltrain.data.in_memory import InMemoryDataModule
from dltrain.errors import UserError, suggestion


class TabularDataModule(InMemoryDataModule):
    """Rows of a CSV file with a header. Labels may be strings or numbers; their sorted values are the class
    names. Features are standardized with the train split's mean and standard deviation only, so no
    statistics leak from val/test."""

    input_kind = "rows"

    def __init__(self, path: str, label_column: str, feature_columns: list[str] | None = None,
                 **split_options) -> None:
        super().__init__(**split_options)
        self.path = Path(path).expanduser()
        self.label_column = label_column
        self.feature_columns = list(feature_columns) if feature_columns else None
        self.features: list[str] = []
        self.mean = self.std = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        header, rows = self._read()
        features = self.feature_columns or [name for name in header if name != self.label_column]
        for name in [self.label_column, *features]:
            if name not in header:
                hint = suggestion(name, header)
                key = "data.label_column" if name == self.label_column else "data.feature_columns"
                raise UserError(f"{self.path} has no column '{name}' ({key})",
                                f"{hint + ' ' if hint else ''}its columns are: {', '.join(header)}")
        if not features:
            raise UserError(f"{self.path} has no feature columns besides '{self.label_column}'",
                            "add numeric feature columns to the file")
        self.features = features
        positions = [header.index(name) for name in features]
        label_position = header.index(self.label_column)
        values = [[self._number(row, p, header[p], line) for p in positions] for line, row in rows]
        raw_labels = [row[label_position].strip() for _, row in rows]
        class_names = sorted(set(raw_labels), key=label_order)
        if len(class_names) < 2:
            raise UserError(f"column '{self.label_column}' of {self.path} holds a single class",
                            "a classifier needs at least two label values")
        ids = {name: index for index, name in enumerate(class_names)}
        labels = torch.tensor([ids[name] for name in raw_labels], dtype=torch.int64)
        return torch.tensor(values, dtype=torch.float32), labels, class_names

    def _read(self) -> tuple[list[str], list[tuple[int, list[str]]]]:
        if not self.path.is_file():
            raise UserError(f"data.path: no such file '{self.path}'",
                            "pass the path of a CSV file with a header row, e.g. data.path=data/iris.csv")
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = [(number, row) for number, row in enumerate(reader, start=2) if any(cell.strip() for cell in row)]
        if not header or not rows:
            raise UserError(f"{self.path} has no data rows", "give a CSV file with a header row and data rows")
        for line, row in rows:
            if len(row) != len(header):
                raise UserError(f"{self.path} line {line} has {len(row)} fields, the header has {len(header)}",
                                "fix the row or quote fields that contain commas")
        return header, rows

    def _number(self, row: list[str], position: int, column: str, line: int) -> float:
        text = row[position].strip()
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{self.path} line {line}, column '{column}': '{text}' is not a number",
                            "fill missing values and list only numeric columns in data.feature_columns=[...]") from None
        if not math.isfinite(value):
            raise UserError(f"{self.path} line {line}, column '{column}': '{text}' is not a finite number",
                            "fill or drop the row: NaN and infinity would make every loss NaN")
        return value

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        train_inputs = splits["train"][0]
        self.mean = train_inputs.mean(dim=0)
        self.std = train_inputs.std(dim=0).clamp_min(1e-8)
        for name, (inputs, labels) in splits.items():
            splits[name] = ((inputs - self.mean) / self.std, labels)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "feature_columns": self.features,
                "mean": self.mean, "std": self.std}


def label_order(label: str) -> tuple:
    """Numeric labels sort as numbers (2 before 10), other labels alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
