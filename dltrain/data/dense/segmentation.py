"""Images with a class id per pixel: a user's image/mask folders (`segmentation_folder`) and Pascal VOC's layout
(`voc`). Both decode every pair once, check it, and serve (image, mask) batches from memory; augmentation moves
each mask with its image (see joint_augment.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from dltrain.data.dense.base import DenseDataModule, InvalidExample
from dltrain.data.dense.scenes import IGNORE_INDEX, decode_scene, image_size_of, read_mask, resize_mask
from dltrain.data.image_pipeline import EXTENSIONS, UNREADABLE, ImageBatchPipeline
from dltrain.errors import UserError

log = logging.getLogger(__name__)

Pair = tuple[Path, Path]

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


class SegmentationDataModule(DenseDataModule):
    """Subclasses find the (image, mask) pairs of each split (`pairs_by_split`) and may name the classes
    (`declared_classes`). Masks hold class ids; IGNORE_INDEX (255) marks pixels left out of loss and metrics. A pair
    whose mask differs in size from its image, or holds an id beyond the classes, stops the run naming the file, or
    with `skip_invalid` is left out and counted."""

    target_kind = "masks"

    def __init__(self, normalize: dict | None = None, **options) -> None:
        super().__init__(**options)
        self.pipeline = ImageBatchPipeline(normalize=normalize)

    def pairs_by_split(self) -> dict[str, list[Pair]]:
        """The (image, mask) files of the splits the source defines (train at least)."""
        raise NotImplementedError

    def declared_classes(self) -> list[str] | None:
        """Class names the source itself states (a classes.txt, VOC's 21), in id order; None: none."""
        return None

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        given = {split: (pairs, torch.zeros(len(pairs), dtype=torch.int64))
                 for split, pairs in self.pairs_by_split().items()}
        self.class_names = self.given_classes or self.declared_classes() or []
        self.decide_size([pair[0] for pairs, _ in given.values() for pair in pairs])
        splits = {split: self._decode(pairs) for split, (pairs, _) in self.hold_out_missing(given).items()}
        if not self.class_names:
            highest = max(int(masks[masks != IGNORE_INDEX].max()) for _, masks in splits.values() if masks.numel())
            self.class_names = [str(index) for index in range(max(highest + 1, 2))]
            log.info("data: no class names given (data.classes or classes.txt): the classes are the mask ids 0-%d",
                     highest)
        self._check_ids(splits)
        self.report_skipped("image/mask pair(s)")
        if len(splits["train"][0]) == 0:
            raise UserError("no image/mask pair is left to train on", "check the masks, or pass fewer to skip")
        return splits

    def _decode(self, pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
        with ThreadPoolExecutor() as pool:
            decoded = list(pool.map(self._decode_pair, pairs))
        kept = [pair for pair in decoded if pair is not None]
        size = self.image_size
        if not kept:
            return (torch.empty(0, self.channels, size, size, dtype=torch.uint8),
                    torch.empty(0, size, size, dtype=torch.uint8))
        return torch.stack([image for image, _ in kept]), torch.stack([mask for _, mask in kept])

    def _decode_pair(self, pair: Pair) -> tuple[torch.Tensor, torch.Tensor] | None:
        image_path, mask_path = pair
        try:
            ids = read_mask(mask_path)
            width, height = image_size_of(image_path)
            if ids.shape != (height, width):
                raise InvalidExample(f"mask {mask_path} is {ids.shape[1]}x{ids.shape[0]} but its image {image_path} is "
                                  f"{width}x{height}")
            mask = resize_mask(ids, self.image_size)
            return decode_scene(image_path, self.image_size, self.channels), mask
        except UNREADABLE as error:
            problem = f"cannot read {image_path} or {mask_path}: {error}"
        except InvalidExample as error:
            problem = str(error)
        self.invalid(problem)
        return None

    def _check_ids(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Masks stay uint8 in memory (a quarter of int64's size): ids are checked here, once."""
        count = len(self.class_names)
        for split, (images, masks) in splits.items():
            valid = (masks < count) | (masks == IGNORE_INDEX)
            bad = (~valid).flatten(1).any(dim=1)
            if bad.any():
                worst = int(masks[~valid].max())
                raise UserError(f"a {split} mask holds class id {worst}, but there are {count} classes "
                                f"({', '.join(self.class_names[:6])}{' ...' if count > 6 else ''})",
                                "name every class in data.classes (or classes.txt), in id order; 255 marks pixels "
                                "to ignore")
            splits[split] = images, masks.to(torch.uint8)

    def on_after_batch_transfer(self, batch: Sequence[torch.Tensor], dataloader_idx: int) -> tuple:
        images, masks = batch
        images, masks = images.float() / 255, masks.long()
        if self.trainer is not None and self.trainer.training:
            images, masks = self.augment(images, masks)
        return self.pipeline(images, training=False), masks


class SegmentationFolderDataModule(SegmentationDataModule):
    """root/images/<name>.<ext> with root/masks/<name>.png (same stem), split by the fractions; or the same pair of
    folders under root/train, root/val and root/test. Class names: data.classes, else root/classes.txt (one per line,
    in id order), else the ids."""

    def __init__(self, root: str, **options) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser()

    def pairs_by_split(self) -> dict[str, list[Pair]]:
        if not self.root.is_dir():
            raise UserError(f"data.root: no such directory '{self.root}'",
                            "pass the folder that holds images/ and masks/")
        if (self.root / "train").is_dir():
            return {split: self._pairs(self.root / split) for split in ("train", "val", "test")
                    if (self.root / split).is_dir()}
        return {"train": self._pairs(self.root)}

    def _pairs(self, folder: Path) -> list[Pair]:
        images_dir, masks_dir = folder / "images", folder / "masks"
        for needed in (images_dir, masks_dir):
            if not needed.is_dir():
                raise UserError(f"{folder} has no {needed.name}/ folder",
                                "lay the data out as root/images/<name>.jpg with root/masks/<name>.png")
        masks = {path.stem: path for path in masks_dir.iterdir() if path.suffix.lower() in EXTENSIONS}
        pairs, missing = [], []
        for image in sorted(path for path in images_dir.iterdir() if path.suffix.lower() in EXTENSIONS):
            (pairs.append((image, masks[image.stem])) if image.stem in masks else missing.append(image))
        if missing and not self.skip_invalid:
            raise UserError(f"image {missing[0]} has no mask {masks_dir / (missing[0].stem + '.png')}"
                            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}",
                            "add the masks, or pass data.skip_invalid=true to leave those images out")
        self.skipped += [f"{image}: no mask" for image in missing]
        if not pairs:
            raise UserError(f"found no image with a mask in {folder}", "put images in images/ and masks in masks/")
        return pairs

    def declared_classes(self) -> list[str] | None:
        listed = self.root / "classes.txt"
        if not listed.is_file():
            return None
        return [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]


class VOCSegmentationDataModule(SegmentationDataModule):
    """Pascal VOC: root is VOCdevkit (or VOCdevkit/VOC2012) with JPEGImages/, SegmentationClass/ (palette PNGs, 255 on
    object borders) and ImageSets/Segmentation/{train,val}.txt. val.txt is the test split (VOC's test masks are not
    public; its val set is what papers report), and val is held out of train.txt by val_fraction."""

    def __init__(self, root: str, year: str = "2012", **options) -> None:
        super().__init__(**options)
        given = Path(root).expanduser()
        self.root = given / f"VOC{year}" if (given / f"VOC{year}").is_dir() else given

    def pairs_by_split(self) -> dict[str, list[Pair]]:
        lists = self.root / "ImageSets" / "Segmentation"
        if not (lists / "train.txt").is_file():
            raise UserError(f"data.root: {self.root} is not a Pascal VOC folder (no ImageSets/Segmentation/train.txt)",
                            "pass the VOCdevkit folder, e.g. data.root=~/VOCdevkit")
        splits = {"train": self._pairs(lists / "train.txt")}
        if (lists / "val.txt").is_file():
            splits["test"] = self._pairs(lists / "val.txt")
        return splits

    def _pairs(self, listing: Path) -> list[Pair]:
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        return [(self.root / "JPEGImages" / f"{name}.jpg", self.root / "SegmentationClass" / f"{name}.png")
                for name in names]

    def declared_classes(self) -> list[str]:
        return list(VOC_CLASSES)

