"""What dltrain predict writes for dense models, from a run or from an exported file:
- segmentation: masks/<name>.png (a palette PNG: its pixel values are the class ids, its colours VOC's) and
  overlays/<name>.png, at each image's own size (the scores are resized back before the argmax);
- detection: boxes.csv (input,label,score,x1,y1,x2,y2 in the image's own pixels) and annotated/<name>.png.
No Lightning here: a deployment machine needs torch, PIL and (for .onnx) ONNX Runtime."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional

from dltrain.errors import UserError

CHUNK = 32  # images per forward pass


def read_scenes(source: Path, data_config: dict, spec: dict) -> tuple[list[Path], list[tuple[int, int]], torch.Tensor]:
    """The images under `source` as the model read its training images (resized whole, scaled, normalized as the data
    was), with each one's own (width, height)."""
    from dltrain.data.dense.scenes import decode_scene, image_size_of
    from dltrain.data.image_pipeline import EXTENSIONS, UNREADABLE, ImageBatchPipeline
    from dltrain.predict_inputs import input_files

    if not source.exists():
        raise UserError(f"input: no such file or folder '{source}'", "pass an image or a folder of images")
    paths = input_files(source, EXTENSIONS, "images")
    if not paths:
        raise UserError(f"found no images in {source}", f"pass a file or a folder of them ({', '.join(EXTENSIONS)})")
    size, channels = spec["input_size"][0], spec["in_channels"]
    images, sizes = [], []
    for path in paths:
        try:
            images.append(decode_scene(path, size, channels))
            sizes.append(image_size_of(path))
        except UNREADABLE as error:
            raise UserError(f"cannot read image {path}: {error}", "remove or replace the file") from None
    pipeline = ImageBatchPipeline(normalize=data_config.get("normalize"))
    return paths, sizes, pipeline(torch.stack(images), training=False)


def predict_masks(forward: Callable, paths: list[Path], sizes: list[tuple[int, int]], inputs: torch.Tensor,
                  class_names: list[str], output: Path) -> list[tuple[str, str]]:
    """Writes the masks and overlays; returns a row per image: its name and the classes it shows, by area."""
    from dltrain.files import write_atomic
    from dltrain.tasks.dense.pictures import overlay, palette

    colours = palette().flatten().tolist()
    rows = []
    for start in range(0, len(paths), CHUNK):
        with torch.no_grad():
            scores = forward(inputs[start : start + CHUNK]).float()
        for index, path in enumerate(paths[start : start + CHUNK]):
            width, height = sizes[start + index]
            ids = functional.interpolate(scores[index : index + 1], size=(height, width), mode="bilinear",
                                         align_corners=False).argmax(dim=1)[0]
            mask = Image.frombytes("P", (width, height), ids.to(torch.uint8).numpy().tobytes())
            mask.putpalette(colours)
            write_atomic(output / "masks" / f"{path.stem}.png", lambda temporary, image=mask: image.save(
                temporary, format="PNG"))
            with Image.open(path) as original:
                pixels = torch.from_numpy(np.asarray(original.convert("RGB"))).permute(2, 0, 1).float() / 255
            tinted = (overlay(pixels[None], ids[None])[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            write_atomic(output / "overlays" / f"{path.stem}.png", lambda temporary, image=tinted: Image.fromarray(
                image).save(temporary, format="PNG"))
            shares = torch.bincount(ids.flatten(), minlength=len(class_names)).float() / ids.numel()
            order = shares.argsort(descending=True)[:3]
            rows.append((path.name, ", ".join(f"{class_names[int(k)]} {float(shares[k]):.0%}" for k in order
                                               if shares[k] > 0)))
    return rows


def predict_boxes(forward: Callable, paths: list[Path], sizes: list[tuple[int, int]], inputs: torch.Tensor,
                  class_names: list[str], output: Path, score_threshold: float) -> list[tuple[str, str]]:
    """Writes boxes.csv and the annotated images; returns a row per image: its name and what was found."""
    from dltrain.files import write_atomic, write_text_atomic
    from dltrain.tasks.dense.pictures import draw_boxes

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["input", "label", "score", "x1", "y1", "x2", "y2"])
    rows = []
    size = inputs.shape[-1], inputs.shape[-2]
    for start in range(0, len(paths), CHUNK):
        with torch.no_grad():
            detections = forward(inputs[start : start + CHUNK])
        for index, path in enumerate(paths[start : start + CHUNK]):
            width, height = sizes[start + index]
            found = detections[index]
            kept = found["scores"] >= score_threshold
            scale = torch.tensor([width / size[0], height / size[1]] * 2)
            boxes, labels, scores = found["boxes"][kept].float() * scale, found["labels"][kept], found["scores"][kept]
            for box, label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist(), strict=True):
                writer.writerow([str(path), class_names[label], f"{score:.4f}", *(f"{value:.1f}" for value in box)])
            with Image.open(path) as original:
                pixels = torch.from_numpy(np.asarray(original.convert("RGB")).copy()).permute(2, 0, 1)
            drawn = draw_boxes(pixels, boxes, labels, class_names, scores).permute(1, 2, 0).numpy()
            write_atomic(output / "annotated" / f"{path.stem}.png", lambda temporary, image=drawn: Image.fromarray(
                image).save(temporary, format="PNG"))
            counts = torch.bincount(labels, minlength=len(class_names))
            rows.append((path.name, ", ".join(f"{int(counts[k])} {class_names[k]}" for k in range(len(class_names))
                                               if counts[k]) or "nothing"))
    write_text_atomic(output / "boxes.csv", buffer.getvalue())
    return rows
