"""Datasets small enough to sit in memory as tensors: split once, batched by indexing, never item by item."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from dltrain.errors import UserError

SPLITS = ("train", "val", "test")
Items = torch.Tensor | list


class EpochOrder:
    """The order in which an epoch visits `count` examples: reshuffled every epoch from `seed`, or as stored.

    Under distributed training each rank takes every world_size-th example of the epoch's order, so the
    ranks see disjoint shards of equal size. Its `position` goes into checkpoints (through the data module's
    state) and `resume_from` takes it back: a resumed run draws the same orders as an uninterrupted one, and one
    stopped mid-epoch skips the batches the saved step had already trained on.
    """

    def __init__(self, count: int, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False) -> None:
        self.count, self.batch_size, self.shuffle, self.drop_last = count, batch_size, shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch_start = self.generator.get_state()
        self.resuming: dict | None = None

    def starts(self) -> range:
        """Where the epoch's batches start in its order: after the batches already trained, when resuming."""
        skip = self._resume() if self.resuming is not None else 0
        self.epoch_start = self.generator.get_state()
        return range(skip * self.batch_size, self.batches_per_epoch * self.batch_size, self.batch_size)

    @property
    def shard_size(self) -> int:
        return self.count // self.world_size if self.world_size > 1 else self.count

    def position(self) -> dict:
        return {"generator": self.generator.get_state(), "epoch_start": self.epoch_start}

    def resume_from(self, position: dict) -> None:
        """Continue from a checkpoint's `position` (see InMemoryDataModule.state_dict)."""
        self.resuming = position

    def _resume(self) -> int:
        """At the end of an epoch the next order follows; some batches into one, the same order is drawn again
        and the batches already trained are skipped (returned)."""
        position, self.resuming = self.resuming, None
        done = position.get("batches_done", 0)
        if 0 < done < self.batches_per_epoch:
            self.generator.set_state(position["epoch_start"])
            return done
        self.generator.set_state(position["generator"])
        return 0

    def _order(self) -> torch.Tensor:
        count = self.count
        order = torch.randperm(count, generator=self.generator) if self.shuffle else torch.arange(count)
        if self.world_size > 1:
            order = order[: count - count % self.world_size][self.rank :: self.world_size]
        return order

    @property
    def batches_per_epoch(self) -> int:
        """Every example in a batch; with `drop_last`, a last batch smaller than the others is left out."""
        return self.shard_size // self.batch_size if self.drop_last else -(-self.shard_size // self.batch_size)

    def __len__(self) -> int:
        return self.batches_per_epoch


class ShuffledIndices(EpochOrder, torch.utils.data.DistributedSampler):
    """The epoch's order as example indices, for a DataLoader of examples read from disk. It shards by rank
    itself; being a DistributedSampler, Lightning leaves it in place under DDP instead of wrapping it."""

    def __iter__(self) -> Iterator[int]:
        starts = self.starts()
        return iter(self._order()[starts.start :].tolist())

    def __len__(self) -> int:
        return self.shard_size

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this every epoch; the order already moves on with its own generator."""


class TensorBatches(EpochOrder):
    """An iterable of (inputs, labels) batches cut from two tensors in the epoch's order."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool,
                 seed: int = 0, rank: int = 0, world_size: int = 1, drop_last: bool = False) -> None:
        super().__init__(len(labels), batch_size, shuffle, seed, rank, world_size, drop_last)
        self.inputs, self.labels = inputs, labels

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        starts = self.starts()
        order = self._order().to(self.labels.device)
        for start in starts:
            index = order[start : start + self.batch_size]
            yield self.inputs[index], self.labels[index]


class InMemoryDataModule(pl.LightningDataModule):
    """Loads all examples once, splits them stratified by `seed`, and serves the splits as tensor batches.

    Subclasses implement `load` (everything, split here by `val_fraction`/`test_fraction`) or `load_splits`
    (datasets that ship their own train/test split). Those that learn from the data (standardization)
    override `fit_transform` so that statistics come from the train split only. When training runs on an
    accelerator the splits move there once (`on_device`), so batches cost no host-to-device copies.
    """

    # What `dltrain predict` reads for this source (images, rows, texts or clips; see dltrain/predict_inputs.py);
    # None: it cannot read new inputs for it.
    input_kind: str | None = None
    # What each example is labelled with: one class (segmentation and detection data have masks and boxes, tables and
    # signals may have numbers); the tasks name the kinds they learn from (see assemble.check_targets).
    target_kind = "classes"

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.1, test_fraction: float = 0.2,
                 seed: int = 0, on_device: bool = True, classes: Sequence | None = None,
                 max_per_class: int | None = None) -> None:
        super().__init__()
        if max_per_class is not None and max_per_class < 1:
            raise UserError(f"data.max_per_class={max_per_class} is invalid", "pass a count >= 1, or null for all")
        self.classes = [str(name) for name in classes] if classes else None
        if self.classes is not None and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)):
            raise UserError(f"data.classes={self.classes}: a classifier needs two or more different classes",
                            "list them by name, e.g. data.classes=[cat,dog], or null for all")
        self.max_per_class = max_per_class
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed = seed
        self.on_device = on_device
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.class_names: list[str] = []
        self.evaluated_split = "test"
        # Options left to `auto` that the data decided, as key -> (value, why): the run header shows them and the
        # run's config records the value, so that eval, export and predict read inputs the same way.
        self.decided: dict[str, tuple[Any, str]] = {}
        # The training batches being served, and where a checkpoint being resumed left them.
        self.training_batches: EpochOrder | None = None
        self.saved_position: dict | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """All inputs (N x ...), labels (int64, N) and the class names in label order."""
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Inputs and labels of train, val and test; sets `class_names`."""
        inputs, labels, self.class_names = self.load()
        return self.hold_out_missing({"train": (inputs, labels)})

    def hold_out(self, labels: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the kept and the held-out examples, `fraction` of each class held out (of all examples, at
        random, when the targets are numbers)."""
        from sklearn.model_selection import train_test_split

        stratify = labels.numpy() if self.target_kind == "classes" else None
        try:
            kept, held = train_test_split(torch.arange(len(labels)).numpy(), test_size=fraction,
                                          random_state=self.seed, stratify=stratify)
        except ValueError as error:
            raise UserError(f"cannot split {len(labels)} examples of {len(self.class_names)} classes "
                            f"stratified: {error}", "use more examples per class or other "
                            "data.val_fraction/data.test_fraction") from None
        return torch.as_tensor(kept), torch.as_tensor(held)

    def hold_out_missing(self, given: dict[str, tuple[Items, torch.Tensor]]) -> dict[str, tuple[Items, torch.Tensor]]:
        """Every split from `given` (split -> (items, labels); items a tensor or a list): those absent are
        held out of train, `val_fraction`/`test_fraction` of each class."""
        missing = [split for split in ("val", "test") if split not in given]
        fractions = {"val": self.val_fraction, "test": self.test_fraction}
        total = sum(fractions[split] for split in missing)
        if missing and total >= 1:
            raise UserError(f"data.val_fraction + data.test_fraction = {total:g} leaves no training data",
                            "keep their sum below 1, e.g. data.val_fraction=0.1 data.test_fraction=0.2")
        result = dict(given)
        if missing:
            items, labels = given["train"]
            kept, held = self.hold_out(labels, total)
            result["train"] = _take(items, kept), labels[kept]
            parts = [held]
            if len(missing) == 2:
                val, test = self.hold_out(labels[held], fractions["test"] / total)
                parts = [held[val], held[test]]
            for split, part in zip(missing, parts, strict=True):
                result[split] = _take(items, part), labels[part]
        return {split: result[split] for split in SPLITS}

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Learn preprocessing from splits['train'] and apply it to every split, in place."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits = self.select(self.load_splits())
        self.fit_transform(self.splits)

    def select(self, splits: dict[str, tuple[Items, torch.Tensor]]) -> dict[str, tuple[Items, torch.Tensor]]:
        """Only the `classes` asked for, relabelled in their given order, and at most `max_per_class` examples
        of each in train and val (few-label training); the test split keeps all of its examples of them."""
        if self.classes:
            unknown = [name for name in self.classes if name not in self.class_names]
            if unknown:
                raise UserError(f"data.classes: this data has no class '{unknown[0]}'",
                                f"its classes are: {', '.join(self.class_names)}")
            relabel = torch.full((len(self.class_names),), -1, dtype=torch.int64)
            relabel[[self.class_names.index(name) for name in self.classes]] = torch.arange(len(self.classes))
            for split, (items, labels) in splits.items():
                labels = relabel[labels]
                kept = (labels >= 0).nonzero().squeeze(1)
                splits[split] = _take(items, kept), labels[kept]
            self.class_names = list(self.classes)
        if self.max_per_class:
            order = torch.Generator().manual_seed(self.seed)
            for split in ("train", "val"):
                items, labels = splits[split]
                shuffled = torch.randperm(len(labels), generator=order)
                kept = torch.cat([shuffled[labels[shuffled] == label][: self.max_per_class]
                                  for label in range(len(self.class_names))]).sort().values
                splits[split] = _take(items, kept), labels[kept]
        return splits

    @property
    def spec(self) -> dict:
        """What a model needs to size itself (`sizes`) and what kind of inputs they are (`input_kind`), which
        decides the models that can read them."""
        return {**self.sizes, "input_kind": self.input_kind}

    @property
    def sizes(self) -> dict:
        """Channels, spatial (or feature) size, number of classes (or of numeric targets)."""
        self.setup()
        sample = self.splits["train"][0][0]
        in_channels, input_size = (1, list(sample.shape)) if sample.dim() == 1 else (
            sample.shape[0], list(sample.shape[1:]))
        outputs = "num_targets" if self.target_kind == "numbers" else "num_classes"
        return {"in_channels": int(in_channels), "input_size": input_size, outputs: len(self.class_names)}

    def split_size(self, split: str) -> int:
        if split not in SPLITS:
            raise UserError(f"unknown split '{split}'", f"choose one of: {', '.join(SPLITS)}")
        self.setup()
        return len(self.splits[split][1])

    def loader(self, split: str, shuffle: bool = False) -> Iterable:
        self.split_size(split)
        inputs, labels = self.splits[split]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        device = self._serving_device()
        if device is not None and inputs.device != device:
            inputs, labels = inputs.to(device), labels.to(device)
            self.splits[split] = inputs, labels
        batches = self.batches(inputs, labels, shuffle, rank, world)
        if shuffle:
            self.follow_training_order(batches)
        return batches

    def follow_training_order(self, order: EpochOrder) -> None:
        """`order` serves the training batches: its position goes into checkpoints, and a checkpoint being resumed
        puts it where the checkpoint left it."""
        self.training_batches = order
        if self.saved_position is not None:
            order.resume_from(self.saved_position)
            self.saved_position = None

    def batches(self, inputs: torch.Tensor, labels: torch.Tensor, shuffle: bool, rank: int,
                world_size: int) -> Iterable:
        """How a split is cut into batches; sources whose examples differ in length batch them by length."""
        return TensorBatches(inputs, labels, self.batch_size, shuffle, seed=self.seed, rank=rank,
                             world_size=world_size)

    def _serving_device(self) -> torch.device | None:
        """The accelerator the trainer runs on, when the splits should live there; None keeps them in place."""
        trainer = self.trainer
        if not self.on_device or trainer is None:
            return None
        device = trainer.strategy.root_device
        return device if device.type != "cpu" else None

    def train_dataloader(self) -> Iterable:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> Iterable:
        return self.loader("val")

    def test_dataloader(self) -> Iterable:
        """The split `dltrain eval data.split=...` measures (`evaluated_split`), the test split otherwise."""
        return self.loader(self.evaluated_split)

    def state_dict(self) -> dict:
        """Saved into every checkpoint by Lightning: what predict needs to read new inputs the same way, and where
        the training batches are (for resume)."""
        state = {"class_names": list(self.class_names)}
        if self.training_batches is not None and self.trainer is not None:
            # The batches of this epoch trained when the checkpoint is written: a checkpoint written after a batch
            # (on a signal) counts it as processed, the one at an epoch's end counts them all.
            done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
            state["batches"] = {**self.training_batches.position(), "batches_done": done}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.saved_position = state.get("batches")


def _take(items: Items, index: torch.Tensor) -> Items:
    return items[index] if isinstance(items, torch.Tensor) else [items[i] for i in index]
