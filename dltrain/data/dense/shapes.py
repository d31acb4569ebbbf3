"""Synthetic scenes: circles, squares and triangles on textured backgrounds, written in the real file formats
(image/mask folders, COCO JSON, YOLO txt). The tests train on them, the shapes_* recipes are measured on them, and a
new user can try segmentation and detection without a dataset:

    python -m dltrain.data.dense.shapes shapes/ --layout segmentation --count 400
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
LAYOUTS = ("segmentation", "coco", "yolo")


def scene(rng: np.random.Generator, width: int, height: int, max_shapes: int = 3
          ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, float, float, float]]]:
    """An RGB image (H, W, 3), its mask of class ids (0 background, 1 + the shape's index) and its boxes
    (shape index, x1, y1, x2, y2 in pixels). Shapes do not overlap, so every box is the whole of its shape."""
    background = rng.integers(0, 256, 3)
    image = Image.fromarray(_texture(rng, width, height, background))
    mask = Image.new("L", (width, height), 0)
    draw_image, draw_mask = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    boxes: list[tuple[int, float, float, float, float]] = []
    smaller = min(width, height)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        for _attempt in range(20):
            side = float(rng.uniform(0.22, 0.42) * smaller)
            x1, y1 = float(rng.uniform(0, width - side)), float(rng.uniform(0, height - side))
            box = (x1, y1, x1 + side, y1 + side)
            if all(_apart(box, other[1:]) for other in boxes):
                break
        else:
            continue
        kind = int(rng.integers(len(SHAPES)))
        colour = tuple(int(value) for value in _contrasting(rng, background))
        for draw, fill in ((draw_image, colour), (draw_mask, kind + 1)):
            _draw(draw, SHAPES[kind], box, fill)
        pixels = np.argwhere(np.asarray(mask) == kind + 1)
        inside = pixels[(pixels[:, 1] >= int(box[0])) & (pixels[:, 1] <= int(box[2]) + 1)
                        & (pixels[:, 0] >= int(box[1])) & (pixels[:, 0] <= int(box[3]) + 1)]
        (top, left), (bottom, right) = inside.min(axis=0), inside.max(axis=0)
        boxes.append((kind, float(left), float(top), float(right + 1), float(bottom + 1)))
    return np.asarray(image), np.asarray(mask), boxes


def _texture(rng: np.random.Generator, width: int, height: int, colour: np.ndarray) -> np.ndarray:
    """Stripes at a random angle over blotchy noise, between `colour` and a shade near it: a background with edges
    everywhere, so that a model must find shapes by their outline, not by the first edge it meets."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, 12)
    stripes = 0.5 + 0.5 * np.sin((columns * np.cos(angle) + rows * np.sin(angle)) * 2 * np.pi / period)
    coarse = rng.random((height // 8 + 2, width // 8 + 2)).astype(np.float32)
    blotches = np.kron(coarse, np.ones((8, 8), np.float32))[:height, :width]
    weight = (0.6 * stripes + 0.4 * blotches)[:, :, None]
    shade = (colour + rng.integers(-70, 71, 3)).clip(0, 255)
    return (colour * weight + shade * (1 - weight)).clip(0, 255).astype(np.uint8)


def _contrasting(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random colour that stands out from `background` (by at least 100 in RGB distance)."""
    while True:
        colour = rng.integers(0, 256, 3)
        if np.linalg.norm(colour - background) >= 100:
            return colour


def _apart(box: tuple[float, ...], other: tuple[float, ...], margin: float = 2.0) -> bool:
    return (box[2] + margin <= other[0] or other[2] + margin <= box[0] or box[3] + margin <= other[1]
            or other[3] + margin <= box[1])


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, ...], fill) -> None:
    x1, y1, x2, y2 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=fill)


def write_shapes(root: Path, layout: str, count: int, size: int | tuple[int, int] = 64, seed: int = 0,
                 max_shapes: int = 3) -> Path:
    """`count` scenes under `root` in `layout`:
    - segmentation: images/NNNN.png, masks/NNNN.png (class ids), classes.txt (background, circle, square, triangle)
    - coco: images/NNNN.png and annotations.json (categories 1..3)
    - yolo: images/NNNN.png, labels/NNNN.txt (`class cx cy w h`, normalised) and classes.txt
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout}")
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    coco: dict = {"images": [], "annotations": [],
                  "categories": [{"id": index + 1, "name": name} for index, name in enumerate(SHAPES)]}
    for number in range(count):
        image, mask, boxes = scene(rng, width, height, max_shapes)
        name = f"{number:04d}"
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        if layout == "segmentation":
            (root / "masks").mkdir(exist_ok=True)
            Image.fromarray(mask).save(root / "masks" / f"{name}.png")
        elif layout == "yolo":
            (root / "labels").mkdir(exist_ok=True)
            lines = [f"{kind} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} "
                     f"{(y2 - y1) / height:.6f}" for kind, x1, y1, x2, y2 in boxes]
            (root / "labels" / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        else:
            coco["images"].append({"id": number + 1, "file_name": f"{name}.png", "width": width, "height": height})
            for kind, x1, y1, x2, y2 in boxes:
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": number + 1,
                                            "category_id": kind + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                            "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    if layout == "segmentation":
        (root / "classes.txt").write_text("\n".join(["background", *SHAPES]) + "\n")
    elif layout == "yolo":
        (root / "classes.txt").write_text("\n".join(SHAPES) + "\n")
    else:
        (root / "annotations.json").write_text(json.dumps(coco))
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write synthetic shape scenes for segmentation or detection.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--layout", choices=LAYOUTS, default="segmentation")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    write_shapes(arguments.root, arguments.layout, arguments.count, arguments.size, arguments.seed)
    print(f"wrote {arguments.count} {arguments.layout} scenes to {arguments.root}")


if __name__ == "__main__":
    main()
