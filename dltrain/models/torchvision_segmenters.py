"""torchvision's semantic segmentation networks: FCN (Long, Shelhamer and Darrell, 2015) and DeepLabV3 (Chen et al.
2017), on a ResNet (or, for DeepLabV3, MobileNetV3) backbone whose last stages are dilated instead of downsampled.

Weights come from local files only: `weights` (a whole network, e.g. torchvision's fcn_resnet50_coco .pth; its class
layer is kept only where the shapes fit, so transfer replaces it) and `backbone_weights` (an ImageNet classifier's
state_dict, e.g. resnet50-0676ba61.pth)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from dltrain.models.images import require_images

INPUT_KINDS = ("images",)
MODEL_KIND = "segmenter"


class TorchvisionSegmenter(nn.Module):
    """Class scores for every pixel (N, classes, H, W) at the input's size; grayscale images are repeated to RGB.
    `classifier` (the class layer's head) is what transfer rebuilds; the rest is `network.backbone`."""

    builders: dict[str, str] = {}
    head_modules = ["network.classifier.4"]
    backbone_modules = ["network.backbone"]

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (224, 224),
                 backbone: str = "resnet50", weights: str | None = None, backbone_weights: str | None = None) -> None:
        super().__init__()
        require_images(type(self).__name__, input_size)
        if backbone not in self.builders:
            raise ValueError(f"unknown backbone '{backbone}'; choose one of: {', '.join(self.builders)}")
        from torchvision.models import segmentation

        self.network = getattr(segmentation, self.builders[backbone])(weights=None, weights_backbone=None,
                                                                       num_classes=num_classes, aux_loss=False)
        if backbone_weights:
            # A MobileNet classifier's layers are under features.; the backbone holds those layers themselves.
            state = {name.removeprefix("features."): value
                     for name, value in _state(backbone_weights, "backbone_weights").items()}
            fitting = {name: value for name, value in state.items() if name in self.network.backbone.state_dict()}
            if not fitting:
                raise ValueError(f"model.backbone_weights: {backbone_weights} holds no {backbone} tensors")
            self.network.backbone.load_state_dict(fitting, strict=False)
        if weights:
            own = self.network.state_dict()
            state = {name: value for name, value in _state(weights, "weights").items()
                     if name in own and own[name].shape == value.shape}
            if not state:
                raise ValueError(f"model.weights: {weights} holds none of this network's tensors")
            self.network.load_state_dict(state, strict=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.network(images)["out"]


class FCN(TorchvisionSegmenter):
    display_name = "FCN"
    builders = {"resnet50": "fcn_resnet50", "resnet101": "fcn_resnet101"}


class DeepLabV3(TorchvisionSegmenter):
    display_name = "DeepLabV3"
    builders = {"resnet50": "deeplabv3_resnet50", "resnet101": "deeplabv3_resnet101",
                "mobilenet_v3_large": "deeplabv3_mobilenet_v3_large"}


def _state(path: str, key: str) -> dict[str, torch.Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"model.{key}: no such file '{file}'")
    state = torch.load(file, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)
