"""A table's feature columns as model inputs: numbers as they are, categories (red, blue; a city; a product type) as
one 0/1 input per value, the value's own input set.

data=tabular decides which columns are categories and their values (from the whole file: a value that only the
test split holds still has its input); predict encodes new rows with the values the run saved. A missing category
is NaN in every input of its column, so that data.missing treats it as a missing number: `error` names it, `drop`
leaves the row out, `mean` fills each input with its train-split mean (the share of rows with that value).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import torch
from torch.nn import functional

from dltrain.data.csv_table import MISSING_MARKS, CsvTable, label_order
from dltrain.errors import UserError

log = logging.getLogger(__name__)

# data.categorical_columns=auto leaves a text column out when it holds more than this many different values and
# they are more than half of its cells: names, identifiers and free text are not categories.
MAX_AUTO_CATEGORIES = 50


def categorical_columns(table: CsvTable, features: list[str], requested: str | list[str] | None) -> list[str]:
    """The features read as categories: those listed in `requested`, or (`auto`) those none of whose cells holds a
    number."""
    if requested is None:
        return []
    if requested != "auto":
        listed = [requested] if isinstance(requested, str) else [str(name) for name in requested]
        for name in listed:
            if name not in features:
                raise UserError(f"data.categorical_columns names '{name}', which is not a feature column",
                                f"list feature columns only; the features are: {', '.join(features)}")
        return listed
    found = [name for name in features if _holds_text_only(_present(table, name))]
    for name in found:
        values = set(_present(table, name))
        if len(values) > MAX_AUTO_CATEGORIES and len(values) > len(table.rows) / 2:
            raise UserError(f"{table.path}: column '{name}' holds {len(values):,} different texts, too many to be "
                            "categories", "leave it out with data.feature_columns=[...], or list it in "
                            "data.categorical_columns=[...] to read it as categories all the same")
    return found


def category_values(table: CsvTable, column: str) -> list[str]:
    """The column's values, numbers in numeric order, then texts in alphabetical order."""
    return sorted(set(_present(table, column)), key=label_order)


def encoded_features(table: CsvTable, features: list[str], categories: dict[str, list[str]],
                     number_fix: Callable[[str], str]) -> tuple[torch.Tensor, list[str]]:
    """Every row's features as inputs (N x inputs), NaN where a cell is missing, and the column each input comes
    from. A category a column's list lacks (new rows at predict) sets none of its inputs: it is counted in a
    warning."""
    blocks, sources, unseen = [], [], []
    for name in features:
        position = table.header.index(name)
        if name not in categories:
            blocks.append(torch.tensor([[table.number(row, position, line, number_fix(name))]
                                        for line, row in zip(table.lines, table.rows, strict=True)],
                                       dtype=torch.float32))
            sources.append(name)
            continue
        values = categories[name]
        index = {value: column for column, value in enumerate(values)}
        cells = [row[position].strip() for row in table.rows]
        unseen += [(name, cell) for cell in cells if cell not in index and cell.lower() not in MISSING_MARKS]
        # Each row's input to set: its value's, one past the last for a missing cell, two past for an unseen value.
        chosen = torch.tensor([index.get(cell, len(values) + (cell.lower() not in MISSING_MARKS)) for cell in cells])
        block = functional.one_hot(chosen, len(values) + 2).float()
        block[chosen == len(values)] = math.nan
        blocks.append(block[:, : len(values)])
        sources += [name] * len(values)
    if unseen:
        column, value = unseen[0]
        log.warning("%s: %d cell(s) hold a category the model never saw (first: %s='%s'); they set none of its "
                    "inputs", table.path, len(unseen), column, value)
    return torch.cat(blocks, dim=1), sources


def _present(table: CsvTable, column: str) -> Iterator[str]:
    position = table.header.index(column)
    return (cell for cell in (row[position].strip() for row in table.rows) if cell.lower() not in MISSING_MARKS)


def _holds_text_only(cells: Iterator[str]) -> bool:
    """Whether no cell is a number (and there is one): a numeric column answers at its first cell."""
    any_cell = False
    for cell in cells:
        try:
            float(cell)
            return False
        except ValueError:
            any_cell = True
    return any_cell
