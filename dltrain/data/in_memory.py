"""Datasets small enough to sit in memory as tensors: split once, batched by indexing, never item by item."""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch

from dltrain.data.augment import RandomAffine
from dltrain.errors import UserError

SPLITS = ("train", "val", "test")


class TensorBatches:
    """An iterable of (inputs, labels) batches cut from two tensors; reshuffled every epoch from `seed`.

    Under distributed training each rank takes every world_size-th example of the epoch's order, so the
    ranks see disjoint shards of equal size.
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.inputs, self.labels = inputs, labels
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)

    def _order(self) -> torch.Tensor:
        count = len(self.labels)
        order = torch.randperm(count, generator=self.generator) if self.shuffle else torch.arange(count)
        if self.world_size > 1:
            order = order[: count - count % self.world_size][self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        count = len(self.labels) // self.world_size if self.world_size > 1 else len(self.labels)
        return -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.inputs[index], self.labels[index]


class InMemoryDataModule(pl.LightningDataModule):
    """Loads all examples once (`load`), splits them stratified by `seed`, and serves the splits.

    Subclasses implement `load`; those that learn from the data (standardization) override `fit_transform`
    so that statistics come from the train split only.
    """

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.1, test_fraction: float = 0.2,
                 seed: int = 0, augment: dict | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.augment = RandomAffine(**augment) if augment else None
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed = seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.class_names: list[str] = []

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """All inputs (float tensor, N x ...), labels (int64, N) and the class names in label order."""
        raise NotImplementedError

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Learn preprocessing from splits['train'] and apply it to every split, in place."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        inputs, labels, self.class_names = self.load()
        self.splits = self._split(inputs, labels)
        self.fit_transform(self.splits)

    def _split(self, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from sklearn.model_selection import train_test_split

        index = torch.arange(len(labels)).numpy()
        held_out = self.val_fraction + self.test_fraction
        if held_out >= 1:
            raise UserError(f"data.val_fraction + data.test_fraction = {held_out:g} leaves no training data",
                            "keep their sum below 1, e.g. data.val_fraction=0.1 data.test_fraction=0.2")
        try:
            train, rest = train_test_split(index, test_size=held_out, random_state=self.seed,
                                           stratify=labels.numpy())
            val, test = train_test_split(rest, test_size=self.test_fraction / held_out,
                                         random_state=self.seed, stratify=labels.numpy()[rest])
        except ValueError as error:
            raise UserError(f"cannot split {len(labels)} examples of {len(self.class_names)} classes "
                            f"stratified: {error}", "use more examples per class or larger "
                            "data.val_fraction/data.test_fraction") from None
        return {name: (inputs[torch.as_tensor(part)], labels[torch.as_tensor(part)])
                for name, part in zip(SPLITS, (train, val, test), strict=True)}

    @property
    def spec(self) -> dict:
        """What a model needs to size itself: channels, spatial (or feature) size, number of classes."""
        self.setup()
        sample = self.splits["train"][0][0]
        in_channels, input_size = (1, list(sample.shape)) if sample.dim() == 1 else (
            sample.shape[0], list(sample.shape[1:]))
        return {"in_channels": int(in_channels), "input_size": input_size, "num_classes": len(self.class_names)}

    def loader(self, split: str, shuffle: bool = False) -> TensorBatches:
        if split not in SPLITS:
            raise UserError(f"unknown split '{split}'", f"choose one of: {', '.join(SPLITS)}")
        self.setup()
        inputs, labels = self.splits[split]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return TensorBatches(inputs, labels, self.batch_size, shuffle, seed=self.seed, rank=rank, world_size=world)

    def train_dataloader(self) -> TensorBatches:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self.loader("val")

    def test_dataloader(self) -> TensorBatches:
        return self.loader("test")

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor],
                                dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        trainer = self.trainer
        if self.augment and trainer is not None and trainer.training:
            inputs, labels = batch
            return self.augment(inputs), labels
        return batch

    def state_dict(self) -> dict:
        """Saved into every checkpoint by Lightning: what predict needs to read new inputs the same way."""
        return {"class_names": list(self.class_names)}
