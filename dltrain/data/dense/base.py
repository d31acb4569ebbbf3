"""What the dense sources share: images resized whole to one size (auto: from their headers), split at random (there
is no single class per example to stratify by), and invalid examples stopping the run or, with `skip_invalid`, left
out and counted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from dltrain.data.dense.joint_augment import JointAugment
from dltrain.data.dense.scenes import image_size_of
from dltrain.data.image_folder import automatic_size
from dltrain.data.image_pipeline import UNREADABLE
from dltrain.data.in_memory import InMemoryDataModule, TensorBatches
from dltrain.errors import UserError

log = logging.getLogger(__name__)


class InvalidExample(Exception):
    """An example that cannot be trained on; its message names the file and what is wrong."""


class DenseDataModule(InMemoryDataModule):
    """`classes` names the classes (it selects none, as it does for classifiers); `augment` goes to JointAugment."""

    input_kind = "images"

    def __init__(self, image_size: int | str = "auto", channels: int = 3, classes: Sequence[str] | None = None,
                 skip_invalid: bool = False, augment: dict | None = None, **split_options) -> None:
        super().__init__(**split_options)
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels} is invalid", "pass 1 (grayscale) or 3 (RGB)")
        if image_size != "auto" and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8):
            raise UserError(f"data.image_size={image_size} is invalid", "pass a size in pixels (8 or more), or auto")
        self.image_size = None if image_size == "auto" else image_size
        self.channels, self.skip_invalid = channels, skip_invalid
        self.given_classes = [str(name) for name in classes] if classes else None
        try:
            self.augment = JointAugment(**(augment or {}))
        except (TypeError, ValueError) as error:
            raise UserError(f"data.augment: {error}", f"keys: {', '.join(JointAugment.KEYS)}") from None
        self.skipped: list[str] = []

    def hold_out(self, labels: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        """A random `fraction` of the examples."""
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.seed))
        held = max(1, round(len(labels) * fraction)) if fraction > 0 else 0
        if held >= len(labels):
            raise UserError(f"{len(labels)} examples cannot be split into train, val and test",
                            "add examples, or give the source its own val and test splits")
        return order[held:].sort().values, order[:held].sort().values

    def select(self, splits: dict) -> dict:
        return splits

    def batches(self, inputs: torch.Tensor, labels, shuffle: bool, rank: int, world_size: int) -> TensorBatches:
        """A last training batch of one example is left out (a different one each epoch): batch norm cannot train on
        a single example where a layer pools it to 1x1 (DeepLabV3's image pooling, a detector's heads)."""
        shard = len(labels) // world_size if world_size > 1 else len(labels)
        return TensorBatches(inputs, labels, self.batch_size, shuffle, seed=self.seed, rank=rank,
                             world_size=world_size, drop_last=shuffle and shard % self.batch_size == 1)

    def decide_size(self, images: list[Path]) -> None:
        """image_size: auto, from the headers of (at most 1,000 of) the images."""
        if self.image_size is not None:
            return
        with ThreadPoolExecutor() as pool:
            sizes = [size for size in pool.map(_header_size, images[:: max(1, len(images) // 1000)]) if size]
        if not sizes:
            raise UserError("none of the images can be read", "check the files, or pass data.image_size=N")
        self.image_size, why = automatic_size(sizes)
        self.decided["image_size"] = (self.image_size, why)

    def invalid(self, problem: str) -> None:
        """Stop on an invalid example, or count it (skip_invalid)."""
        if not self.skip_invalid:
            raise UserError(problem, "fix or remove it, or pass data.skip_invalid=true to leave such examples out")
        self.skipped.append(problem)

    def report_skipped(self, what: str) -> None:
        if self.skipped:
            log.warning("skipped %d invalid %s (data.skip_invalid=true): %s", len(self.skipped), what,
                        "; ".join(self.skipped[:3]) + (" ..." if len(self.skipped) > 3 else ""))

    def image_format(self) -> tuple[int, list[int]]:
        """The channels and size of what the model sees (transfer matches them to its source)."""
        spec = self.spec
        return spec["in_channels"], spec["input_size"]

    @property
    def sizes(self) -> dict:
        self.setup()
        return {"in_channels": self.channels, "input_size": [self.image_size] * 2,
                "num_classes": len(self.class_names)}


def _header_size(path: Path) -> tuple[int, int] | None:
    try:
        return image_size_of(path)
    except UNREADABLE:
        return None
