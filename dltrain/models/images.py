"""What the image models share: checking that the data is images, and choosing a stem by input size."""

from __future__ import annotations

from collections.abc import Sequence

VARIANTS = ("auto", "imagenet", "small")


def image_variant(family: str, input_size: Sequence[int], variant: str, threshold: int = 64) -> str:
    """`imagenet` keeps the paper's downsampling stem, `small` adapts it to small images; `auto` picks
    `imagenet` when both sides are at least `threshold` pixels."""
    if len(input_size) != 2:
        raise ValueError(f"{family} needs images (channels x height x width); the data gives inputs of size "
                         f"{list(input_size)}: use model=mlp for feature vectors")
    if variant not in VARIANTS:
        raise ValueError(f"unknown {family} variant '{variant}'; choose one of: {', '.join(VARIANTS)}")
    if variant == "auto":
        return "imagenet" if min(input_size) >= threshold else "small"
    return variant
