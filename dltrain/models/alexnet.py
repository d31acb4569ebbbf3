"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012): the network that started the deep-learning era."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dltrain.models.activations import replace_relu
from dltrain.models.images import drop_unaffordable_pools, image_variant

# What the data gives (its spec's input_kind) that this family reads: images, and clips as spectrograms.
INPUT_KINDS = ("images", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"


def build_alexnet(num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (224, 224),
                  variant: str = "auto", activation: str = "relu", dropout: float = 0.5) -> nn.Module:
    """torchvision's AlexNet. The `small` variant (inputs under 64 px) replaces the 11x11 stride-4 stem by a
    3x3 stride-1 conv, keeps only the 3x3 stride-2 pools the input can afford, pools globally and uses a
    1024-1024 classifier instead of 4096-4096."""
    import torchvision

    variant = image_variant("AlexNet", input_size, variant)
    model = torchvision.models.alexnet(weights=None, num_classes=num_classes, dropout=dropout)
    if variant == "small":
        model.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        drop_unaffordable_pools(model.features, min(input_size))
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256, 1024), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(1024, 1024), nn.ReLU(inplace=True),
            nn.Linear(1024, num_classes))
    elif in_channels != 3:
        model.features[0] = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
    replace_relu(model, activation)
    model.display_name = "AlexNet" + (" (small-image variant)" if variant == "small" else "")
    return model
