"""Figures saved beside results: a confusion matrix, predicted against true values, grids of images (no Lightning
here: generate uses it from an exported model)."""

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


def save_predicted_against_true(predictions: torch.Tensor, targets: torch.Tensor, names: list[str], path: Path,
                                most: int = 5000) -> Path:
    """One scatter panel per target (N x targets): each example's prediction against its true value, the diagonal
    where they agree, and R² in the title. At most `most` points are drawn (an even sample of them)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    step = max(1, len(targets) // most)
    predictions, targets = predictions[::step].float(), targets[::step].float()
    count = len(names)
    figure, panels = pyplot.subplots(1, count, figsize=(4.5 * count, 4.5), squeeze=False)
    for index, (axes, name) in enumerate(zip(panels[0], names, strict=True)):
        true, predicted = targets[:, index], predictions[:, index]
        spread = (true - true.mean()).square().sum()
        r2 = 1 - (predicted - true).square().sum() / spread if spread > 0 else float("nan")
        low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
        axes.plot([low, high], [low, high], color="grey", linewidth=1)
        axes.scatter(true.numpy(), predicted.numpy(), s=8, alpha=0.5)
        axes.set_xlabel(f"true {name}")
        axes.set_ylabel(f"predicted {name}")
        axes.set_title(f"{name}: R² {float(r2):.3f}, {len(true)} examples")
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
