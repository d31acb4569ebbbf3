"""What the sources of numeric examples (rows of a table, sampled signals) share: labels that are classes or
numbers, and cells that may be missing."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from dltrain.data.csv_table import cell_number, label_order
from dltrain.data.in_memory import InMemoryDataModule
from dltrain.errors import UserError

log = logging.getLogger(__name__)

TARGET_KINDS = ("classes", "numbers")
MISSING_POLICIES = ("error", "mean", "drop")
LABEL_FIX = "task=regression predicts numbers; train a classifier for named classes"


class NumericExamplesDataModule(InMemoryDataModule):
    """Examples of numbers with one or more label columns.

    `targets`: `classes` (the label's values name the classes) or `numbers` (each label column is a number to
    predict: task=regression; `auto` is resolved from the task by `dltrain train`). `missing` says what happens to
    an example with a missing value: `error` names the first one, `drop` leaves such examples out before the
    split, `mean` fills a missing feature with its mean over the train split (an example without its label is
    dropped: there is nothing to learn from it). Subclasses load features with NaN where a value is missing and
    pass them through `without_missing`.
    """

    target_kinds = TARGET_KINDS

    def __init__(self, label_column: str | Sequence[str] | None, targets: str = "classes",
                 missing: str = "error", **split_options) -> None:
        super().__init__(**split_options)
        targets = "classes" if targets == "auto" else targets
        if targets not in TARGET_KINDS:
            raise UserError(f"data.targets={targets} is invalid", "choose classes or numbers (task=regression), or "
                            "auto to follow the task")
        if missing not in MISSING_POLICIES:
            raise UserError(f"data.missing={missing} is invalid", "choose error, mean or drop")
        self.target_kind, self.missing = targets, missing
        self.label_columns = [label_column] if isinstance(label_column, str) else list(label_column or [])
        if targets == "classes" and len(self.label_columns) > 1:
            raise UserError(f"data.label_column lists {len(self.label_columns)} columns, but classes come from one",
                            "pass one label column, or task=regression to predict several numbers")
        if targets == "numbers" and (self.classes or self.max_per_class):
            raise UserError("data.classes and data.max_per_class choose among classes, and these targets are "
                            "numbers", "drop them, or train a classifier")
        # Per-feature means of the train split that fill missing values (data.missing=mean), kept for predict.
        self.fill: torch.Tensor | None = None

    def labelled(self, texts: list[list[str]], where: list[str]) -> tuple[torch.Tensor, list[str]]:
        """Labels from the text of each example's label columns (`where` names each example for errors): class
        ids and the sorted class names, or numbers (N x columns, NaN where missing) and the columns' names."""
        if self.target_kind == "numbers":
            values = [[cell_number(text, f"{self.source_name} {place}, target '{column}'", LABEL_FIX)
                       for text, column in zip(row, self.label_columns, strict=True)]
                      for row, place in zip(texts, where, strict=True)]
            return torch.tensor(values, dtype=torch.float32).reshape(len(texts), len(self.label_columns)), \
                list(self.label_columns)
        names = [row[0].strip() for row in texts]
        # Only an empty label is missing: "none" or "NA" may well name a class.
        class_names = sorted({name for name in names if name}, key=label_order)
        if len(class_names) < 2:
            raise UserError(f"label '{self.label_columns[0]}' of {self.source_name} holds "
                            f"{'a single class' if class_names else 'no values'}",
                            "a classifier needs at least two label values; task=regression predicts a number")
        ids = {name: index for index, name in enumerate(class_names)}
        return torch.tensor([ids.get(name, -1) for name in names], dtype=torch.int64), class_names

    @property
    def source_name(self) -> str:
        return str(getattr(self, "path", type(self).__name__))

    def without_missing(self, features: torch.Tensor, labels: torch.Tensor, where: list[str],
                        places: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples (`features` N x F, NaN where missing; labels -1 or NaN where missing) as `missing` says:
        refused naming the first gap (`where` names each example, `places` each feature: "column 'age'"), or those
        with gaps (`drop`) or without a label (`mean`) left out, counted."""
        gaps = features.isnan()
        unlabelled = labels.isnan().flatten(1).any(dim=1) if labels.is_floating_point() else labels < 0
        incomplete = gaps.any(dim=1) | unlabelled
        if not incomplete.any():
            return features, labels
        if self.missing == "error":
            first = int(incomplete.nonzero()[0, 0])
            what = (places[int(gaps[first].nonzero()[0, 0])] if gaps[first].any()
                    else f"label '{', '.join(self.label_columns)}'")
            total = int(gaps.sum() + unlabelled.sum())
            raise UserError(f"{self.source_name} {where[first]}, {what} has no value ({total} missing in all)",
                            "fill it in, or pass data.missing=mean (fill with the train split's mean) or "
                            "data.missing=drop (leave such rows out)")
        dropped = incomplete if self.missing == "drop" else unlabelled
        kept = ~dropped
        if not kept.any():
            raise UserError(f"every example of {self.source_name} has a missing value (data.missing={self.missing})",
                            "fill the gaps, or pass data.missing=mean")
        if dropped.any():
            log.info("data.missing=%s: %d of %d examples left out (%s)", self.missing, int(dropped.sum()),
                     len(dropped), "a missing value" if self.missing == "drop" else "no label")
        return features[kept], labels[kept]

    def fill_missing(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], places: list[str]) -> None:
        """data.missing=mean: every missing value becomes its feature's mean over the train split, or the means a
        trained run saved (`places` name the features, flattened, for the error when the train split has none of
        one)."""
        if self.fill is None:
            train = splits["train"][0].flatten(1)
            present = ~train.isnan()
            self.fill = torch.where(present, train, 0).sum(dim=0) / present.sum(dim=0)
        filled = 0
        for split, (inputs, labels) in splits.items():
            gaps = inputs.isnan()
            if gaps.any():
                empty = (gaps.flatten(1) & self.fill.isnan()).any(dim=0).nonzero()
                if len(empty):
                    raise UserError(f"{places[int(empty[0, 0])]} of {self.source_name} has no value in "
                                    "the train split, so no mean to fill it with", "drop the column or fill it in")
                filled += int(gaps.sum())
                splits[split] = torch.where(gaps, self.fill.view(inputs.shape[1:]), inputs), labels
        if filled:
            log.info("data.missing=mean: %d missing values filled with their train-split means", filled)

    def target_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and standard deviation of each numeric target over the train split: a regression model learns
        standardized targets and answers in their own units (see tasks/regression.py)."""
        targets = self.splits["train"][1]
        # One training example has no deviation (NaN): its targets are taken as they are.
        return targets.mean(dim=0), targets.std(dim=0).nan_to_num(1.0).clamp_min(1e-8)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "fill": self.fill}
