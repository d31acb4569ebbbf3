"""What the image models share: checking that the data is images, and choosing a stem by input size."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

VARIANTS = ("auto", "imagenet", "small")


def image_variant(family: str, input_size: Sequence[int], variant: str, threshold: int = 64) -> str:
    """`imagenet` keeps the paper's downsampling stem, `small` adapts it to small images; `auto` picks
    `imagenet` when both sides are at least `threshold` pixels."""
    require_images(family, input_size)
    if variant not in VARIANTS:
        raise ValueError(f"unknown {family} variant '{variant}'; choose one of: {', '.join(VARIANTS)}")
    if variant == "auto":
        return "imagenet" if min(input_size) >= threshold else "small"
    return variant


def require_images(family: str, input_size: Sequence[int]) -> None:
    if len(input_size) != 2:
        raise ValueError(f"{family} needs images (channels x height x width); the data gives inputs of size "
                         f"{list(input_size)}: use model=mlp for feature vectors")


def drop_unaffordable_pools(features: nn.Sequential, size: int) -> None:
    """Replace, in place, each max pool that would shrink a `size`-pixel input below 1x1 by an identity."""
    for index, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            kernel, stride = _side(layer.kernel_size), _side(layer.stride)
            after = (size - kernel) // stride + 1
            if after >= 1:
                size = after
            else:
                features[index] = nn.Identity()


def _side(value: int | tuple[int, int]) -> int:
    return value if isinstance(value, int) else value[0]
