"""Images with boxes around objects: COCO JSON (`coco`) and YOLO txt labels (`yolo`). Both read every image once,
check its boxes, and serve (images, targets) batches from memory, a target being a dict of `boxes` (x1, y1, x2, y2 in
pixels of the resized image) and `labels` (class indices from 0). Augmentation moves the boxes with the image."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from dltrain.data.dense.base import DenseDataModule, InvalidExample
from dltrain.data.dense.scenes import decode_scene, image_size_of
from dltrain.data.image_pipeline import EXTENSIONS, UNREADABLE
from dltrain.errors import UserError

log = logging.getLogger(__name__)

# Clipping by up to this many pixels is rounding (YOLO's normalised numbers), not worth a mention.
CLIPPING_NOTED = 0.5
# A box whose clipped width or height is below this many pixels of its image holds no object.
SMALLEST_BOX = 1.0


@dataclass
class Annotated:
    """An image file and its boxes: (class index, x1, y1, x2, y2) in the image's own pixels; `source` names where
    the boxes came from in errors (a label file, an annotations file)."""

    image: Path
    boxes: list[tuple[int, float, float, float, float]]
    source: str


class BoxTargets:
    """The targets of a split, indexable by a tensor of positions like the images beside them (see TensorBatches)."""

    def __init__(self, targets: list[dict[str, torch.Tensor]]) -> None:
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        return [self.targets[position] for position in index.tolist()]

    @property
    def device(self) -> torch.device:
        return self.targets[0]["boxes"].device if self.targets else torch.device("cpu")

    def to(self, device: torch.device) -> BoxTargets:
        return BoxTargets([{key: value.to(device) for key, value in target.items()} for target in self.targets])


class DetectionDataModule(DenseDataModule):
    """Subclasses read each split's annotated images (`annotated_by_split`) and set `class_names`. A box partly outside
    its image is clipped to it (and counted); one outside it, or of no width or height, stops the run naming the file,
    or with `skip_invalid` leaves that image out. Images without boxes are kept: they teach what is not an object."""

    target_kind = "boxes"

    def __init__(self, **options) -> None:
        super().__init__(**options)
        if self.augment.rotation:
            raise UserError("data.augment.rotation is not offered for boxes: a rotated box no longer fits its object",
                            "drop it; flip and scale move boxes exactly")

    def annotated_by_split(self) -> dict[str, list[Annotated]]:
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple[torch.Tensor, BoxTargets]]:
        given = {split: (examples, torch.zeros(len(examples), dtype=torch.int64))
                 for split, examples in self.annotated_by_split().items()}
        if self.given_classes and self.given_classes != self.class_names:
            if len(self.given_classes) != len(self.class_names):
                raise UserError(f"data.classes names {len(self.given_classes)} classes but the labels have "
                                f"{len(self.class_names)} ({', '.join(self.class_names)})",
                                "name each class of the labels, in their order, or pass data.classes=null")
            self.class_names = list(self.given_classes)
        self.decide_size([example.image for examples, _ in given.values() for example in examples])
        self.clipped = 0
        splits = {split: self._decode(examples) for split, (examples, _) in self.hold_out_missing(given).items()}
        if self.clipped:
            log.info("data: %d box(es) reaching past their image were clipped to it", self.clipped)
        self.report_skipped("image(s)")
        if len(splits["train"][1]) == 0:
            raise UserError("no annotated image is left to train on", "check the labels, or pass fewer to skip")
        return splits

    def _decode(self, examples: list[Annotated]) -> tuple[torch.Tensor, BoxTargets]:
        with ThreadPoolExecutor() as pool:
            decoded = [result for result in pool.map(self._decode_example, examples) if result is not None]
        self.clipped += sum(clipped for _, _, clipped in decoded)
        size = self.image_size
        images = torch.stack([image for image, _, _ in decoded]) if decoded else torch.empty(
            0, self.channels, size, size, dtype=torch.uint8)
        return images, BoxTargets([target for _, target, _ in decoded])

    def _decode_example(self, example: Annotated) -> tuple[torch.Tensor, dict[str, torch.Tensor], int] | None:
        """The image, its target at the image's new size, and how many of its boxes were clipped; None: skipped."""
        try:
            width, height = image_size_of(example.image)
            boxes = torch.tensor([box[1:] for box in example.boxes], dtype=torch.float32).reshape(-1, 4)
            labels = torch.tensor([box[0] for box in example.boxes], dtype=torch.int64)
            clipped = self._checked(boxes, labels, width, height, example)
            scale = torch.tensor([self.image_size / width, self.image_size / height] * 2)
            count = int(((clipped - boxes).abs() > CLIPPING_NOTED).any(dim=1).sum())
            image = decode_scene(example.image, self.image_size, self.channels)
            return image, {"boxes": clipped * scale, "labels": labels}, count
        except UNREADABLE as error:
            self.invalid(f"cannot read image {example.image}: {error}")
        except InvalidExample as error:
            self.invalid(str(error))
        return None

    def _checked(self, boxes: torch.Tensor, labels: torch.Tensor, width: int, height: int,
                 example: Annotated) -> torch.Tensor:
        """The boxes clipped to the image; unknown classes and boxes with nothing left are InvalidExample."""
        unknown = labels[(labels < 0) | (labels >= len(self.class_names))]
        if len(unknown):
            names = ", ".join(self.class_names[:6]) + (" ..." if len(self.class_names) > 6 else "")
            raise InvalidExample(f"{example.source}: class {int(unknown[0])} is not one of the "
                                 f"{len(self.class_names)} classes ({names})")
        limits = torch.tensor([width, height, width, height], dtype=torch.float32)
        clipped = boxes.clamp(min=torch.zeros(4)).minimum(limits)
        sides = clipped[:, 2:] - clipped[:, :2]
        empty = (sides < SMALLEST_BOX).any(dim=1)
        if empty.any():
            box = [round(value, 1) for value in boxes[empty][0].tolist()]
            where = "lies outside" if (sides[empty][0] <= 0).any() and (boxes[empty][0] != clipped[empty][0]).any() \
                else "has no area in"
            raise InvalidExample(f"{example.source}: box {box} (x1, y1, x2, y2) {where} the {width}x{height} image "
                                 f"{example.image.name}")
        return clipped

    def on_after_batch_transfer(self, batch: Sequence, dataloader_idx: int) -> tuple:
        images, targets = batch
        images = images.float() / 255
        if self.trainer is not None and self.trainer.training:
            images, targets = self.augment.with_boxes(images, targets)
        return images, targets


class COCODataModule(DetectionDataModule):
    """COCO's detection JSON (`images`, `annotations` with `bbox` [x, y, width, height] in pixels, `categories`) and
    the images it names under `root`. Categories are classes in the order of their ids; crowd annotations are left out
    (COCO's own evaluation ignores them). Split by the fractions, or give `val_annotations` and `test_annotations`."""

    def __init__(self, root: str, annotations: str | None = None, val_annotations: str | None = None,
                 test_annotations: str | None = None, images: str | None = None, **options) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser()
        self.images = self.root / images if images else None
        given = {"train": annotations, "val": val_annotations, "test": test_annotations}
        self.annotation_files = {split: Path(path).expanduser() for split, path in given.items() if path}

    def annotated_by_split(self) -> dict[str, list[Annotated]]:
        if not self.root.is_dir():
            raise UserError(f"data.root: no such directory '{self.root}'", "pass the folder of the images")
        if "train" not in self.annotation_files:
            found = sorted(self.root.glob("*.json"))
            if len(found) != 1:
                raise UserError(f"data.annotations is not set and {self.root} holds {len(found)} JSON files",
                                "pass data.annotations=FILE (COCO's instances JSON)")
            self.annotation_files["train"] = found[0]
        splits = {}
        for split, path in self.annotation_files.items():
            splits[split] = self._read(path, first=split == "train")
        return splits

    def _read(self, path: Path, first: bool) -> list[Annotated]:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            categories = sorted(document["categories"], key=lambda category: category["id"])
            images, annotations = document["images"], document.get("annotations", [])
        except OSError as error:
            raise UserError(f"cannot read {path}: {error.strerror or error}", "pass COCO's instances JSON") from None
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path} is not a COCO detection file ({type(error).__name__}: {error})",
                            "it needs `images`, `annotations` and `categories`, as COCO's instances JSON has") from None
        names = [str(category["name"]) for category in categories]
        if first:
            self.class_names = names
        elif names != self.class_names:
            raise UserError(f"{path} has other categories than the training annotations",
                            "give every split the same categories")
        index_of = {category["id"]: index for index, category in enumerate(categories)}
        folder = self.images or _image_folder(self.root)
        by_image = {image["id"]: Annotated(folder / image["file_name"], [], str(path)) for image in images}
        for annotation in annotations:
            if annotation.get("iscrowd"):
                continue
            example = by_image.get(annotation["image_id"])
            if example is None:
                raise UserError(f"{path}: annotation {annotation.get('id')} is of image {annotation['image_id']}, "
                                "which `images` does not list", "fix the file's images or annotations")
            x, y, width, height = annotation["bbox"]
            label = index_of.get(annotation["category_id"], -1)
            example.boxes.append((label, x, y, x + width, y + height))
        missing = [example for example in by_image.values() if not example.image.is_file()]
        if missing:
            problem = (f"{path} lists {len(missing)} image(s) missing under {folder}, e.g. {missing[0].image.name}")
            if not self.skip_invalid:
                raise UserError(problem, "pass data.images=FOLDER where they are, or data.skip_invalid=true to "
                                "leave them out")
            self.skipped.append(problem)
        return [example for example in by_image.values() if example.image.is_file()]


class YOLODataModule(DetectionDataModule):
    """YOLO's layout: root/images/<name>.<ext> with root/labels/<name>.txt, a line `class cx cy w h` per box
    (normalised to the image's size); an image without a label file has no boxes. Classes: data.classes, else
    root/classes.txt (one per line), else the `names` of root/data.yaml. Split by the fractions, or give
    root/{train,val,test}/{images,labels} (or root/images/{train,val,test} with root/labels/{train,val,test})."""

    def __init__(self, root: str, **options) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser()

    def annotated_by_split(self) -> dict[str, list[Annotated]]:
        if not self.root.is_dir():
            raise UserError(f"data.root: no such directory '{self.root}'",
                            "pass the folder that holds images/ and labels/")
        self.class_names = self._names()
        for images, labels in ((self.root / "{split}" / "images", self.root / "{split}" / "labels"),
                               (self.root / "images" / "{split}", self.root / "labels" / "{split}")):
            if Path(str(images).format(split="train")).is_dir():
                return {split: self._read(Path(str(images).format(split=split)), Path(str(labels).format(split=split)))
                        for split in ("train", "val", "test") if Path(str(images).format(split=split)).is_dir()}
        if not (self.root / "images").is_dir():
            raise UserError(f"{self.root} has no images/ folder", "lay the data out as root/images/<name>.jpg with "
                            "root/labels/<name>.txt")
        return {"train": self._read(self.root / "images", self.root / "labels")}

    def _names(self) -> list[str]:
        if self.given_classes:
            return list(self.given_classes)
        listed = self.root / "classes.txt"
        if listed.is_file():
            return [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
        described = self.root / "data.yaml"
        if described.is_file():
            import yaml

            names = (yaml.safe_load(described.read_text(encoding="utf-8")) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[key]) for key in sorted(names)]
            if isinstance(names, list):
                return [str(name) for name in names]
        raise UserError(f"no class names for {self.root}: no classes.txt or data.yaml with names",
                        "pass data.classes=[name,...] in class-index order, or write classes.txt")

    def _read(self, images: Path, labels: Path) -> list[Annotated]:
        examples = []
        for image in sorted(path for path in images.iterdir() if path.suffix.lower() in EXTENSIONS):
            label_file = labels / f"{image.stem}.txt"
            examples.append(Annotated(image, _yolo_boxes(label_file, image) if label_file.is_file() else [],
                                      str(label_file)))
        return examples


def _yolo_boxes(label_file: Path, image: Path) -> list[tuple[int, float, float, float, float]]:
    """The boxes of a YOLO label file in the image's pixels."""
    width, height = image_size_of(image)
    boxes = []
    for number, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            label, cx, cy, w, h = int(fields[0]), *(float(value) for value in fields[1:5])
            if len(fields) != 5:
                raise ValueError
        except ValueError:
            raise UserError(f"{label_file} line {number}: '{line.strip()}' is not `class cx cy w h`",
                            "write one box per line: a class index and four numbers in [0, 1]") from None
        boxes.append((label, (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height))
    return boxes


def _image_folder(root: Path) -> Path:
    """Where COCO's file_names are relative to: root/images when it exists, else root."""
    return root / "images" if (root / "images").is_dir() else root
