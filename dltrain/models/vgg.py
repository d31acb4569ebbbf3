"""VGG (Simonyan and Zisserman, 2015): stacks of 3x3 convolutions, 11 to 19 layers deep."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dltrain.models.activations import replace_relu
from dltrain.models.images import drop_unaffordable_pools, image_variant

# What the data gives (its spec's input_kind) that this family reads: images, and clips as spectrograms.
INPUT_KINDS = ("images", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"

DEPTHS = (11, 13, 16, 19)


def build_vgg(num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (224, 224), depth: int = 16,
              batch_norm: bool = True, variant: str = "auto", activation: str = "relu",
              dropout: float = 0.5) -> nn.Module:
    """torchvision's VGG. The `small` variant (inputs under 64 px) keeps only the max pools the input can
    afford (down to 1x1), pools globally and uses a 512-512 classifier instead of 4096-4096: the CIFAR VGG."""
    import torchvision

    if depth not in DEPTHS:
        raise ValueError(f"VGG comes in depths {', '.join(map(str, DEPTHS))}, not {depth}")
    variant = image_variant("VGG", input_size, variant)
    name = f"vgg{depth}_bn" if batch_norm else f"vgg{depth}"
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes, dropout=dropout)
    first = model.features[0]
    if in_channels != 3:
        model.features[0] = nn.Conv2d(in_channels, first.out_channels, 3, padding=1)
    if variant == "small":
        drop_unaffordable_pools(model.features, min(input_size))
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, num_classes))
    replace_relu(model, activation)
    model.display_name = f"VGG-{depth}{' with batch norm' if batch_norm else ''}" + (
        " (small-image variant)" if variant == "small" else "")
    return model
