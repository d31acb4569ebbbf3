"""A user's own images in class folders: `root/<class>/*` split by fractions, or `root/train|val|test/<class>/*`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image

from dltrain.data.image_pipeline import EXTENSIONS, UNREADABLE, decode_image
from dltrain.data.images import ImageDataModule
from dltrain.data.in_memory import ShuffledIndices
from dltrain.errors import UserError

log = logging.getLogger(__name__)

LAYOUT = "root/<class>/<image> or root/train/<class>/<image> (with optional root/val and root/test)"
# `image_size: auto` looks at the headers of at most this many images, spread over the set, and never goes beyond
# LARGEST_AUTO_SIZE: past it, memory and time grow with the square of the size for little gain.
SIZE_SAMPLE = 1000
LARGEST_AUTO_SIZE = 224


class ImageFolderDataModule(ImageDataModule):
    """Class names are the folder names, sorted. Each image is decoded once per use to `channels`, its shorter
    side resized to `image_size` and the centre cut square. `image_size: auto` is the images' own size when they
    share one, else the median of their shorter sides, at most 224 (see automatic_size). Sets whose decoded
    pixels fit in `max_memory_gb`
    are decoded once, up front, and served from memory; larger ones are read from disk every epoch by
    `num_workers` loader processes.

    An unreadable image stops the run with its path, or with `skip_corrupt` is left out and counted.
    """

    def __init__(self, root: str, image_size: int | str = "auto", channels: int = 3, skip_corrupt: bool = False,
                 max_memory_gb: float = 2.0, num_workers: int = 2, pin_memory: bool = True,
                 persistent_workers: bool = True, **options) -> None:
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels} is invalid", "pass 1 (grayscale) or 3 (RGB)")
        if not image_size:
            raise UserError("data.image_size must be set for an image folder: its images may differ in size",
                            "pass auto (their own size) or a size in pixels, e.g. data.image_size=224")
        super().__init__(image_size=image_size, **options)
        self.automatic_size = image_size == "auto"
        self.root = Path(root).expanduser()
        self.channels = channels
        self.skip_corrupt, self.max_memory_gb = skip_corrupt, max_memory_gb
        self.num_workers, self.pin_memory, self.persistent_workers = num_workers, pin_memory, persistent_workers
        self.skipped: list[Path] = []
        self.in_memory = True
        self.files: dict[str, tuple[list[Path], torch.Tensor]] = {}

    def load_splits(self) -> dict[str, tuple]:
        files = self._files_by_split()
        self._decide_size()
        count = sum(len(paths) for paths, _ in files.values())
        self.in_memory = count * self.channels * self.pipeline.image_size**2 <= self.max_memory_gb * 2**30
        if self.in_memory:
            splits = {split: self._decode_all(paths, labels) for split, (paths, labels) in files.items()}
        else:
            log.info("data: %s images of %dx%d do not fit data.max_memory_gb=%g decoded: they are read from disk every "
                     "epoch by %d loader workers (data.num_workers)", f"{count:,}", self.pipeline.image_size,
                     self.pipeline.image_size, self.max_memory_gb, self.num_workers)
            splits = {split: self._verify_all(paths, labels) for split, (paths, labels) in files.items()}
        if self.skipped:
            log.warning("skipped %d unreadable image(s) (data.skip_corrupt=true): %s", len(self.skipped),
                        ", ".join(str(path) for path in self.skipped[:5]) + (" ..." if len(self.skipped) > 5 else ""))
        return splits

    def _files_by_split(self) -> dict[str, tuple[list[Path], torch.Tensor]]:
        if not self.files:
            self.files = self._scan_splits()
        return self.files

    def _decide_size(self) -> None:
        """Set the image size when it is `auto`, from the headers of the images (nothing is decoded)."""
        if not self.automatic_size or self.pipeline.image_size:
            return
        paths = [path for split_paths, _ in self._files_by_split().values() for path in split_paths]
        step = max(1, len(paths) // SIZE_SAMPLE)
        with ThreadPoolExecutor() as pool:
            sizes = [size for size in pool.map(_header_size, paths[::step]) if size is not None]
        if not sizes:
            raise UserError(f"none of the images under {self.root} can be read",
                            "check the files (they must be images PIL can open), or pass data.image_size=N")
        size, why = automatic_size(sizes, sampled=step > 1)
        self.pipeline.image_size = size
        self.decided["image_size"] = (size, why)

    def _scan_splits(self) -> dict[str, tuple[list[Path], torch.Tensor]]:
        if not self.root.is_dir():
            raise UserError(f"data.root: no such directory '{self.root}'",
                            f"pass the folder of your images, laid out as {LAYOUT}")
        split_root = self.root / "train"
        by_class = _scan(split_root if split_root.is_dir() else self.root)
        if len(by_class) < 2:
            raise UserError(f"found {len(by_class)} class folder(s) with images under "
                            f"{split_root if split_root.is_dir() else self.root}",
                            f"a classifier needs at least two; lay the images out as {LAYOUT}")
        self.class_names = sorted(by_class)
        paths, labels = self._flatten(by_class)
        given = {"train": (paths, labels)}
        if split_root.is_dir():
            for split in ("val", "test"):
                if (self.root / split).is_dir():
                    given[split] = self._flatten(_scan(self.root / split), self.root / split)
        return self.hold_out_missing(given)

    def _flatten(self, by_class: dict[str, list[Path]], where: Path | None = None) -> tuple[list[Path], torch.Tensor]:
        unknown = sorted(set(by_class) - set(self.class_names))
        if unknown:
            raise UserError(f"{where / unknown[0]} is a class the train images do not have",
                            f"every class folder needs train images too; train classes: {', '.join(self.class_names)}")
        pairs = [(path, index) for index, name in enumerate(self.class_names) for path in by_class.get(name, [])]
        return [path for path, _ in pairs], torch.tensor([label for _, label in pairs], dtype=torch.int64)

    def _decode_all(self, paths: list[Path], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with ThreadPoolExecutor() as pool:
            images = list(pool.map(self._read, paths))
        keep = [index for index, image in enumerate(images) if image is not None]
        if not keep:
            size = self.pipeline.image_size
            return torch.empty(0, self.channels, size, size, dtype=torch.uint8), labels[:0]
        return torch.stack([images[index] for index in keep]), labels[keep]

    def _verify_all(self, paths: list[Path], labels: torch.Tensor) -> tuple[list[Path], torch.Tensor]:
        keep = []
        for index, path in enumerate(paths):
            try:
                with Image.open(path) as image:
                    image.verify()
                keep.append(index)
            except UNREADABLE as error:
                self._unreadable(path, error)
        return [paths[index] for index in keep], labels[keep]

    def _read(self, path: Path) -> torch.Tensor | None:
        try:
            return decode_image(path, self.pipeline.image_size, self.channels)
        except UNREADABLE as error:
            self._unreadable(path, error)
            return None

    def _unreadable(self, path: Path, error: Exception) -> None:
        if not self.skip_corrupt:
            raise UserError(f"cannot read image {path}: {error}",
                            "delete or replace the file, or pass data.skip_corrupt=true to leave such files out")
        self.skipped.append(path)

    @property
    def sizes(self) -> dict:
        """From the config, not the tensors: streamed sets have no tensors to look at."""
        self.setup()
        size = self.pipeline.image_size
        return {"in_channels": self.channels, "input_size": [size, size], "num_classes": len(self.class_names)}

    def image_format(self) -> tuple[int, list[int]]:
        self._decide_size()
        size = self.pipeline.image_size
        return self.channels, [size, size]

    def loader(self, split: str, shuffle: bool = False) -> Iterable:
        if self.in_memory:
            return super().loader(split, shuffle)
        self.split_size(split)
        paths, labels = self.splits[split]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        order = ShuffledIndices(len(paths), self.batch_size, shuffle, self.seed, rank, world)
        if shuffle:
            self.follow_training_order(order)
        # The loader's own generator seeds its workers, so that starting them draws nothing from the global RNG.
        return torch.utils.data.DataLoader(
            FileImages(paths, labels, self.pipeline.image_size, self.channels), batch_size=self.batch_size,
            sampler=order, num_workers=self.num_workers, pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed))


class FileImages(torch.utils.data.Dataset):
    """Images decoded from disk one at a time, in loader worker processes."""

    def __init__(self, paths: Sequence[Path], labels: torch.Tensor, size: int, channels: int) -> None:
        self.paths, self.labels, self.size, self.channels = list(paths), labels, size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return decode_image(self.paths[index], self.size, self.channels), self.labels[index]


def _scan(directory: Path) -> dict[str, list[Path]]:
    """Image files of each class folder (searched recursively), hidden files and folders left out."""
    by_class = {}
    for folder in sorted(directory.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            images = sorted(path for path in folder.rglob("*") if path.suffix.lower() in EXTENSIONS
                            and path.is_file() and not any(part.startswith(".") for part in
                                                           path.relative_to(folder).parts))
            if images:
                by_class[folder.name] = images
    return by_class


def automatic_size(sizes: list[tuple[int, int]], sampled: bool = False) -> tuple[int, str]:
    """`image_size: auto` from the (width, height) of the images: their shorter side when they all share one,
    else the median shorter side; never above LARGEST_AUTO_SIZE. Returns the size and why, in words."""
    import statistics

    shorter = sorted(min(size) for size in sizes)
    which = f"{len(sizes):,} sampled images" if sampled else "the images"
    if len(set(sizes)) == 1:
        width, height = sizes[0]
        size, why = shorter[0], f"auto: {which} are all {width}x{height}"
    else:
        size = int(statistics.median_low(shorter))
        why = f"auto: the median shorter side of {which} ({shorter[0]} to {shorter[-1]} px)"
    if size > LARGEST_AUTO_SIZE:
        size, why = LARGEST_AUTO_SIZE, f"{why}, capped at {LARGEST_AUTO_SIZE}"
    return size, why


def _header_size(path: Path) -> tuple[int, int] | None:
    """An image's (width, height) from its header; None when unreadable (decoding reports those, by path)."""
    try:
        with Image.open(path) as image:
            return image.size
    except UNREADABLE:
        return None
