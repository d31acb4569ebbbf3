"""Labelled texts from CSV, TSV or JSON Lines files, as padded token ids batched by length."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from dltrain.data.csv_table import label_order
from dltrain.data.in_memory import InMemoryDataModule, TensorBatches
from dltrain.data.text_files import Record, read_records
from dltrain.data.vocabulary import Vocabulary
from dltrain.errors import UserError


class TextDataModule(InMemoryDataModule):
    """One file split by `val_fraction`/`test_fraction` (`path`), or separate `train_path`, `val_path`,
    `test_path` files (a missing val or test file is held out of train).

    The vocabulary is built from the train split only (`min_freq`, `max_vocab`); texts are cut to
    `max_length` tokens. Class names and vocabulary are saved in every checkpoint (`state_dict`), and a data
    module that loads them (eval, predict) encodes new text with the trained ids and label order, rejecting
    labels the model was not trained on.
    """

    input_kind = "texts"

    def __init__(self, path: str | None = None, train_path: str | None = None, val_path: str | None = None,
                 test_path: str | None = None, text_column: str = "text", label_column: str = "label",
                 tokenizer: str = "word", lowercase: bool = True, min_freq: int = 1, max_vocab: int | None = 20000,
                 max_length: int = 256, bucket: bool = True, encoding: str = "utf-8", **split_options) -> None:
        super().__init__(**split_options)
        if bool(path) == bool(train_path):
            raise UserError("give the texts as data.path=FILE, or as data.train_path=FILE (with optional "
                            "data.val_path and data.test_path)", "e.g. data.path=reviews.csv")
        if (val_path or test_path) and not train_path:
            raise UserError("data.val_path and data.test_path go with data.train_path, not data.path",
                            "pass data.train_path=FILE instead of data.path")
        if max_length < 1 or min_freq < 1 or (max_vocab is not None and max_vocab < 3):
            raise UserError(f"data.max_length={max_length}, data.min_freq={min_freq}, data.max_vocab={max_vocab}: "
                            "out of range", "use max_length >= 1, min_freq >= 1 and max_vocab >= 3 (or null)")
        self.files = {split: Path(file).expanduser() for split, file in
                      (("train", train_path or path), ("val", val_path), ("test", test_path)) if file}
        self.text_column, self.label_column = text_column, label_column
        self.tokenizer, self.lowercase = tokenizer, lowercase
        self.min_freq, self.max_vocab, self.max_length = min_freq, max_vocab, max_length
        self.bucket = bucket
        self.encoding = encoding
        self.vocabulary: Vocabulary | None = None

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        records = {split: read_records(file, self.text_column, self.label_column, self.encoding)
                   for split, file in self.files.items()}
        if not self.class_names:
            self.class_names = sorted({label for _, _, label in records["train"]}, key=label_order)
        if len(self.class_names) < 2:
            raise UserError(f"column '{self.label_column}' of {self.files['train']} holds a single class",
                            "a classifier needs at least two label values")
        given = {split: self._labelled(split, rows) for split, rows in records.items()}
        splits = self.hold_out_missing(given)
        if self.vocabulary is None:
            try:
                self.vocabulary = Vocabulary.build(splits["train"][0], self.tokenizer, self.lowercase,
                                                   self.min_freq, self.max_vocab)
            except ValueError as error:
                raise UserError(f"data.tokenizer: {error}", "pass data.tokenizer=word or data.tokenizer=char") from None
        return {split: (self.vocabulary.encode(texts, self.max_length), labels)
                for split, (texts, labels) in splits.items()}

    def _labelled(self, split: str, rows: list[Record]) -> tuple[list[str], torch.Tensor]:
        ids = {name: index for index, name in enumerate(self.class_names)}
        for line, _, label in rows:
            if label not in ids:
                raise UserError(f"{self.files[split]} line {line}: label '{label}' is not one the model trains on",
                                f"the labels are those of the training texts: {', '.join(self.class_names)}")
        return [text for _, text, _ in rows], torch.tensor([ids[label] for *_, label in rows], dtype=torch.int64)

    @property
    def sizes(self) -> dict:
        self.setup()
        return {"in_channels": 1, "input_size": [self.max_length], "num_classes": len(self.class_names),
                "vocab_size": len(self.vocabulary)}

    def batches(self, inputs: torch.Tensor, labels: torch.Tensor, shuffle: bool, rank: int,
                world_size: int) -> Iterable:
        return LengthBatches(inputs, labels, self.batch_size, shuffle, seed=self.seed, rank=rank,
                             world_size=world_size, pool=50 if self.bucket else 1)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "vocabulary": self.vocabulary.state() if self.vocabulary else None}

    def load_state_dict(self, state: dict) -> None:
        """Take a trained run's classes and vocabulary, so that texts get the ids the model learned. With
        `classes` chosen, those are the run's classes, in that order, and the file's other labels are dropped."""
        super().load_state_dict(state)
        if state.get("class_names") and not self.classes:
            self.class_names = list(state["class_names"])
        if state.get("vocabulary"):
            self.vocabulary = Vocabulary(**state["vocabulary"])


class LengthBatches(TensorBatches):
    """Batches of token ids each cut to its longest text. With `pool` > 1 every `pool` batches' worth of the
    epoch's order is sorted by length before cutting (and the batches reshuffled), so texts of similar length
    share a batch and little compute goes to padding."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool,
                 pool: int = 50, **options) -> None:
        super().__init__(inputs, labels, batch_size, shuffle, **options)
        self.lengths = (inputs != 0).sum(dim=1).clamp_min(1).cpu()
        self.pool = pool

    def _order(self) -> torch.Tensor:
        order = super()._order()
        if self.pool <= 1:
            return order
        span = self.batch_size * self.pool
        order = torch.cat([part[torch.argsort(self.lengths[part], stable=True)] for part in order.split(span)])
        if not self.shuffle:
            return order
        # Shuffle whole batches; a short last batch stays last, so that batches keep their boundaries.
        batches = order.split(self.batch_size)
        full = len(order) // self.batch_size
        shuffled = [batches[i] for i in torch.randperm(full, generator=self.generator)]
        return torch.cat(shuffled + list(batches[full:]))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        starts = self.starts()
        order = self._order()
        on_device = order.to(self.labels.device)
        for start in starts:
            width = int(self.lengths[order[start : start + self.batch_size]].max())
            index = on_device[start : start + self.batch_size]
            yield self.inputs[index, :width], self.labels[index]
