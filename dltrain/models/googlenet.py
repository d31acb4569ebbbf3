"""GoogLeNet (Szegedy et al., 2015): Inception v1, with the optional auxiliary classifiers of the paper."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dltrain.models.images import image_variant

# What the data gives (its spec's input_kind) that this family reads: images, and clips as spectrograms.
INPUT_KINDS = ("images", "clips")
# What it gives back: class scores (per frame, for speech to text); see the tasks' model_kinds.
MODEL_KIND = "classifier"


def build_googlenet(num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (224, 224),
                    aux_logits: bool = False, variant: str = "auto", dropout: float = 0.2) -> nn.Module:
    """torchvision's GoogLeNet. With `aux_logits` it returns (logits, aux2, aux1) while training, and the
    classification task adds the auxiliary losses (weighted 0.3, as in the paper); in eval mode, logits only.
    The `small` variant (inputs under 64 px) replaces the 7x7 stride-2 stem and its two max pools by a 3x3
    stride-1 conv, so 8x8 to 63x63 images keep enough resolution for the inception stages. (No activation
    option: torchvision's inception blocks call ReLU as a function.)"""
    import torchvision
    from torchvision.models.googlenet import BasicConv2d

    variant = image_variant("GoogLeNet", input_size, variant)
    model = torchvision.models.GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, transform_input=False,
                                         init_weights=True, dropout=dropout)
    if variant == "small":
        model.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        model.maxpool1 = nn.Identity()
        model.maxpool2 = nn.Identity()
    elif in_channels != 3:
        model.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
    model.display_name = "GoogLeNet" + (" (small-image variant)" if variant == "small" else "")
    return model
