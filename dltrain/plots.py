"""Figures saved beside results: a confusion matrix, grids of images (no Lightning here: generate uses it from an
exported model)."""

from __future__ import annotations

from pathlib import Path

import torch

from dltrain.files import write_atomic


def save_confusion_matrix(matrix: torch.Tensor, class_names: list[str], path: Path) -> Path:
    """Rows are true classes, columns predictions; counts are written in the cells when they fit."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    count = len(class_names)
    size = min(4 + 0.5 * count, 20)
    figure, axes = pyplot.subplots(figsize=(size, size))
    axes.imshow(matrix.numpy(), cmap="Blues")
    axes.set_xticks(range(count), class_names, rotation=90 if count > 10 else 0)
    axes.set_yticks(range(count), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if count <= 30:
        threshold = matrix.max().item() / 2
        for row in range(count):
            for column in range(count):
                value = int(matrix[row, column])
                axes.text(column, row, str(value), ha="center", va="center",
                          color="white" if value > threshold else "black", fontsize=8)
    figure.tight_layout()
    write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    pyplot.close(figure)
    return path


def save_grid(images: torch.Tensor, path: Path, columns: int, padding: int = 1) -> Path:
    """A grid of N x C x H x W images as a PNG, written atomically. Images outside [0, 1] (normalized data) are
    stretched to it."""
    from torchvision.utils import save_image

    images = images.detach().float().cpu()
    stretch = bool(images.min() < 0 or images.max() > 1)
    return write_atomic(path, lambda temporary: save_image(images, temporary, nrow=columns, padding=padding,
                                                           normalize=stretch, pad_value=1.0, format="PNG"))
