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
from dltrain.errors import UserError

log = logging.getLogger(__name__)

LAYOUT = "root/<class>/<image> or root/train/<class>/<image> (with optional root/val and root/test)"


class ImageFolderDataModule(ImageDataModule):
    """Class names are the folder names, sorted. Each image is decoded once per use to `channels`, its shorter
    side resized to `image_size` and the centre cut square. Sets whose decoded pixels fit in `max_memory_gb`
    are decoded once, up front, and served from memory; larger ones are read from disk every epoch by
    `num_workers` loader processes.

    An unreadable image stops the run with its path, or with `skip_corrupt` is left out and counted.
    """

    def __init__(self, root: str, image_size: int = 224, channels: int = 3, skip_corrupt: bool = False,
                 max_memory_gb: float = 2.0, num_workers: int = 2, pin_memory: bool = True,
                 persistent_workers: bool = True, **options) -> None:
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels} is invalid", "pass 1 (grayscale) or 3 (RGB)")
        if not image_size:
            raise UserError("data.image_size must be set for an image folder: its images differ in size",
                            "pass e.g. data.image_size=224")
        super().__init__(image_size=image_size, **options)
        self.root = Path(root).expanduser()
        self.channels = channels
        self.skip_corrupt, self.max_memory_gb = skip_corrupt, max_memory_gb
        self.num_workers, self.pin_memory, self.persistent_workers = num_workers, pin_memory, persistent_workers
        self.skipped: list[Path] = []
        self.in_memory = True

    def load_splits(self) -> dict[str, tuple]:
        files = self._files_by_split()
        count = sum(len(paths) for paths, _ in files.values())
        self.in_memory = count * self.channels * self.pipeline.image_size**2 <= self.max_memory_gb * 2**30
        if self.in_memory:
            splits = {split: self._decode_all(paths, labels) for split, (paths, labels) in files.items()}
        else:
            splits = {split: self._verify_all(paths, labels) for split, (paths, labels) in files.items()}
        if self.skipped:
            log.warning("skipped %d unreadable image(s) (data.skip_corrupt=true): %s", len(self.skipped),
                        ", ".join(str(path) for path in self.skipped[:5]) + (" ..." if len(self.skipped) > 5 else ""))
        return splits

    def _files_by_split(self) -> dict[str, tuple[list[Path], torch.Tensor]]:
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
    def spec(self) -> dict:
        """From the config, not the tensors: streamed sets have no tensors to look at."""
        self.setup()
        size = self.pipeline.image_size
        return {"in_channels": self.channels, "input_size": [size, size], "num_classes": len(self.class_names)}

    def image_format(self) -> tuple[int, list[int]]:
        size = self.pipeline.image_size
        return self.channels, [size, size]

    def loader(self, split: str, shuffle: bool = False) -> Iterable:
        if self.in_memory:
            return super().loader(split, shuffle)
        self.split_size(split)
        paths, labels = self.splits[split]
        return torch.utils.data.DataLoader(
            FileImages(paths, labels, self.pipeline.image_size, self.channels), batch_size=self.batch_size,
            shuffle=shuffle, num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
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
