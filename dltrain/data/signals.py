"""Sampled signals (sensor readings, ECG, audio frames): one example per CSV row, or arrays in an .npz/.npy file;
standardized per channel on the train split, augmented per training batch on the device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dltrain.data.csv_table import FEATURE_FIX, read_csv_table
from dltrain.data.numeric_examples import NumericExamplesDataModule
from dltrain.data.signal_arrays import (
    ARRAY_SUFFIXES,
    LAYOUTS,
    position_names,
    read_array,
    signals_from_array,
    signals_from_rows,
)
from dltrain.data.signal_augment import signal_augment
from dltrain.errors import UserError


class SignalsDataModule(NumericExamplesDataModule):
    """Signals as (N, channels, steps) tensors.

    From a CSV file every column but the label(s) (or `feature_columns`, in order) is a time step; with `channels`
    > 1 a row holds the channels `interleaved` (every channel of step 0, then of step 1, ...) or `blocked` (all
    steps of channel 0, then channel 1, ...): `channel_layout`. From an .npz file, the arrays `input_key`
    ((N, T) or (N, C, T)) and `label_column` (N, or (N, k) numeric targets); from an .npy file the signals, with
    `labels_path` an .npy of their labels.
    """

    input_kind = "signals"

    def __init__(self, path: str, label_column: str | Sequence[str] | None = None,
                 feature_columns: list[str] | None = None, channels: int = 1, channel_layout: str = "interleaved",
                 input_key: str = "x", labels_path: str | None = None, augment: dict | None = None,
                 encoding: str = "utf-8", **options) -> None:
        self.path = Path(path).expanduser()
        self.encoding = encoding
        arrays = self.path.suffix.lower() in ARRAY_SUFFIXES
        super().__init__(label_column if label_column is not None or not arrays else "y", **options)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise UserError(f"data.channels={channels} is invalid", "pass how many channels each row holds, e.g. 3")
        if channel_layout not in LAYOUTS:
            raise UserError(f"data.channel_layout={channel_layout} is invalid", f"choose {' or '.join(LAYOUTS)}")
        if not arrays and not self.label_columns:
            raise UserError(f"{self.path}: which column holds the label?", "pass data.label_column=NAME")
        self.feature_columns = list(feature_columns) if feature_columns else None
        self.channels, self.channel_layout = channels, channel_layout
        self.input_key, self.labels_path = input_key, labels_path
        self.augment = signal_augment(augment)
        self.columns: list[str] = []
        self.positions: list[str] = []
        self.mean = self.std = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        if self.path.suffix.lower() in ARRAY_SUFFIXES:
            signals, texts = self._arrays()
            where = [f"example {index}" for index in range(len(signals))]
        else:
            signals, texts, where = self._csv_rows()
        labels, names = self.labelled(texts, where)
        flat, labels = self.without_missing(signals.flatten(1), labels, where, self.positions)
        return flat.reshape(-1, *signals.shape[1:]), labels, names

    def _csv_rows(self) -> tuple[torch.Tensor, list[list[str]], list[str]]:
        table = read_csv_table(self.path, example="data.path=signals.csv", encoding=self.encoding)
        label_positions = table.positions(self.label_columns, "data.label_column")
        self.columns = self.feature_columns or [name for name in table.header if name not in self.label_columns]
        if not self.columns:
            raise UserError(f"{self.path} has no columns of signal besides the label", "add the time steps as columns")
        values = torch.tensor(table.numbers(table.positions(self.columns, "data.feature_columns"), FEATURE_FIX),
                               dtype=torch.float32)
        signals = signals_from_rows(values, self.channels, self.channel_layout)
        self.positions = [f"column '{name}'" for name in position_names(self.columns, self.channels,
                                                                        self.channel_layout)]
        return signals, [[row[p] for p in label_positions] for row in table.rows], \
            [f"line {line}" for line in table.lines]

    def _arrays(self) -> tuple[torch.Tensor, list[list[str]]]:
        if self.channels != 1:
            raise UserError(f"data.channels={self.channels} lays out CSV rows; {self.path} is an array file",
                            "store the signals as (examples, channels, steps) and drop data.channels")
        if self.path.suffix.lower() == ".npy":
            if not self.labels_path:
                raise UserError(f"{self.path} holds the signals only", "pass their labels as data.labels_path=y.npy, "
                                "or save both with numpy.savez(path, x=signals, y=labels)")
            signals = signals_from_array(read_array(self.path, None, "data.path"), self.path)
            labels = read_array(Path(self.labels_path).expanduser(), None, "data.labels_path")
        else:
            signals = signals_from_array(read_array(self.path, self.input_key, "data.path"), self.path)
            labels = read_array(self.path, self.label_columns[0], "data.path")
        if len(labels) != len(signals):
            raise UserError(f"{self.path}: {len(signals)} signals but {len(labels)} labels",
                            "give one label per signal")
        if labels.ndim == 2 and self.target_kind == "numbers":
            self.label_columns = [f"{self.label_columns[0]}{index}" for index in range(labels.shape[1])]
        elif labels.ndim != 1:
            raise UserError(f"{self.path}: labels of shape {list(labels.shape)}",
                            "give one class per signal (N,), or numbers (N, targets) with task=regression")
        channels, steps = signals.shape[1:]
        self.positions = [f"channel {channel}, step {step}" for channel in range(channels) for step in range(steps)]
        texts = [[str(value) for value in row] for row in labels.reshape(len(labels), -1).tolist()]
        return signals, texts

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Fill gaps (data.missing=mean), then standardize each channel with the train split's statistics."""
        if self.missing == "mean":
            self.fill_missing(splits, self.positions)
        train = splits["train"][0]
        self.mean = train.mean(dim=(0, 2))
        self.std = train.std(dim=(0, 2)).nan_to_num(1.0).clamp_min(1e-8)
        for name, (signals, labels) in splits.items():
            splits[name] = ((signals - self.mean[:, None]) / self.std[:, None], labels)

    def on_after_batch_transfer(self, batch: Sequence[torch.Tensor], dataloader_idx: int) -> tuple:
        signals, labels = batch
        if self.augment and self.trainer is not None and self.trainer.training:
            signals = self.augment(signals)
        return signals, labels

    def state_dict(self) -> dict:
        return {**super().state_dict(), "feature_columns": self.columns, "channels": self.channels,
                "channel_layout": self.channel_layout, "mean": self.mean, "std": self.std}
