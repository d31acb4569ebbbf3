"""A user's CSV file: feature columns (numbers, or categories as one input per value) and a label column (classes,
or numbers to predict), standardized on the train split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dltrain.data.csv_table import CsvTable, read_csv_table
from dltrain.data.numeric_examples import NumericExamplesDataModule
from dltrain.data.table_columns import categorical_columns, category_values, encoded_features
from dltrain.errors import UserError


class TabularDataModule(NumericExamplesDataModule):
    """Rows of a CSV file with a header. Class labels may be strings or numbers; their sorted values are the class
    names. With numeric targets (task=regression) `label_column` may list several columns. `categorical_columns`
    (auto: the text columns; a list; null: none) are read as categories (see table_columns). Inputs are standardized
    with the train split's mean and standard deviation only, so no statistics leak from val/test."""

    input_kind = "rows"

    def __init__(self, path: str, label_column: str | Sequence[str], feature_columns: list[str] | None = None,
                 categorical_columns: str | list[str] | None = "auto", encoding: str = "utf-8", **options) -> None:
        self.path = Path(path).expanduser()
        self.encoding = encoding
        super().__init__(label_column, **options)
        self.feature_columns = list(feature_columns) if feature_columns else None
        self.categorical_columns = categorical_columns
        self.features: list[str] = []
        # Each categorical feature's values, in the order of their inputs; the column each input comes from.
        self.categories: dict[str, list[str]] | None = None
        self.input_columns: list[str] = []
        self.mean = self.std = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        table = read_csv_table(self.path, encoding=self.encoding)
        label_positions = table.positions(self.label_columns, "data.label_column")
        features = self.feature_columns or self.features or [name for name in table.header
                                                            if name not in self.label_columns]
        if not features:
            raise UserError(f"{self.path} has no feature columns besides '{', '.join(self.label_columns)}'",
                            "add numeric feature columns to the file")
        self.features = features
        table.positions(features, "data.feature_columns")  # a name the header lacks: refused, naming the closest
        if self.categories is None:
            self.categories = self._found_categories(table, features)
        values, self.input_columns = encoded_features(table, features, self.categories, _number_fix)
        where = [f"line {line}" for line in table.lines]
        labels, names = self.labelled([[row[p] for p in label_positions] for row in table.rows], where)
        values, labels = self.without_missing(values, labels, where, self.places)
        return values, labels, names

    def _found_categories(self, table: CsvTable, features: list[str]) -> dict[str, list[str]]:
        categories = {name: category_values(table, name)
                      for name in categorical_columns(table, features, self.categorical_columns)}
        if categories and self.categorical_columns == "auto":
            counts = ", ".join(f"{name} {len(values)}" for name, values in categories.items())
            self.decided["categorical_columns"] = (list(categories), f"auto: columns of text; values: {counts}")
        return categories

    @property
    def places(self) -> list[str]:
        return [f"column '{name}'" for name in self.input_columns]

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        if self.missing == "mean":
            self.fill_missing(splits, self.places)
        if self.mean is None:
            train_inputs = splits["train"][0]
            self.mean = train_inputs.mean(dim=0)
            self.std = train_inputs.std(dim=0).nan_to_num(1.0).clamp_min(1e-8)
        for name, (inputs, labels) in splits.items():
            splits[name] = ((inputs - self.mean) / self.std, labels)

    def load_state_dict(self, state: dict) -> None:
        """A trained run's columns, categories and statistics, taken back before its data is read (eval, export):
        another file's rows are read, encoded and scaled as the model learned them."""
        super().load_state_dict(state)
        self.features = list(state.get("feature_columns") or [])
        self.categories = state.get("categories")
        self.mean, self.std = state.get("mean"), state.get("std")
        self.fill = state.get("fill")

    def state_dict(self) -> dict:
        return {**super().state_dict(), "feature_columns": self.features, "categories": self.categories,
                "mean": self.mean, "std": self.std}


def _number_fix(column: str) -> str:
    return (f"fix the cell, read the column as categories with data.categorical_columns=[{column}], or leave it out "
            "with data.feature_columns=[...]")
