"""Object detectors from torchvision: Faster R-CNN (Ren et al. 2015), RetinaNet (Lin et al. 2017), FCOS (Tian et
al. 2019) and SSDlite (Sandler et al. 2018), built on a ResNet or MobileNetV3 backbone with a feature pyramid.

They are sized for the data: `fpn_channels` narrows the pyramid (torchvision's 256 is for 800-pixel photos), anchors
scale with the image size, and the images are used at the data's size (torchvision would resize them to 800 pixels).
Labels count from 0 here as everywhere in dltrain; the wrapper shifts them for the detectors that reserve 0 for the
background. Weights come from local files only: `weights` (a whole detector, e.g. torchvision's COCO-trained
fasterrcnn_resnet50_fpn) and `backbone_weights` (an ImageNet classifier's state_dict).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from dltrain.models.images import require_images

INPUT_KINDS = ("images",)
# What it gives back: boxes, labels and scores per image; see the tasks' model_kinds.
MODEL_KIND = "detector"

RESNETS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
BACKBONES = (*RESNETS, "mobilenet_v3_large")
# The anchor sizes torchvision chose for 800-pixel images, per pyramid level; they scale with the image size.
REFERENCE_SIZE = 800


class Detector(nn.Module):
    """Takes float images (N, C, H, W) in [0, 1]. Training, `forward(images, targets)` returns the detector's losses
    (a dict); otherwise `forward(images)` returns a dict per image of `boxes` (x1, y1, x2, y2 in pixels), `labels`
    and `scores`, at most `detections_per_image`, those scoring below `score_threshold` left out."""

    # Whether label 0 is the detector's background class (R-CNN, SSD) rather than a first object class.
    background_class = True
    # What transfer's freeze=backbone keeps fixed: the feature extractor, not the pyramid or the heads.
    backbone_modules = ["detector.backbone.body"]

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (512, 512),
                 backbone: str = "resnet18", fpn_channels: int = 256, trainable_layers: int = 5,
                 weights: str | None = None, backbone_weights: str | None = None, score_threshold: float = 0.05,
                 detections_per_image: int = 100) -> None:
        super().__init__()
        require_images(type(self).__name__, input_size)
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone '{backbone}'; choose one of: {', '.join(BACKBONES)}")
        if not 0 <= trainable_layers <= 5:
            raise ValueError(f"trainable_layers must be 0-5 (ResNet stages from the top), got {trainable_layers}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.image_size = max(input_size)
        self.detections_per_image = detections_per_image
        self.detector = self.build(num_classes + int(self.background_class), backbone, fpn_channels,
                                   trainable_layers, _state(backbone_weights, "backbone_weights"))
        self.detector.transform.min_size = (min(input_size),)
        self.detector.transform.max_size = self.image_size
        self._set_thresholds(score_threshold, detections_per_image)
        if weights:
            self._load(_state(weights, "weights"))

    def build(self, classes: int, backbone: str, fpn_channels: int, trainable_layers: int,
              backbone_state: dict | None) -> nn.Module:
        raise NotImplementedError

    def _set_thresholds(self, score_threshold: float, detections: int) -> None:
        self.detector.score_thresh = score_threshold
        self.detector.detections_per_img = detections

    def _load(self, state: dict[str, torch.Tensor]) -> None:
        """A whole detector's weights (its class layers are kept where their shapes differ: transfer replaces those)."""
        own = self.detector.state_dict()
        fitting = {name: value for name, value in state.items() if name in own and own[name].shape == value.shape}
        if not fitting:
            raise ValueError("the weights file holds none of this detector's tensors: is it of the same architecture "
                             "and backbone?")
        self.detector.load_state_dict(fitting, strict=False)

    def anchor_sizes(self, levels: int, reference: Sequence[int] = (32, 64, 128, 256, 512)) -> tuple[tuple[int], ...]:
        """torchvision's anchor sizes scaled from 800-pixel images to this data's, at least 4 pixels."""
        scale = self.image_size / REFERENCE_SIZE
        return tuple((max(4, round(size * scale)),) for size in reference[:levels])

    def forward(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None):
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        shift = int(self.background_class)
        if self.training:
            shifted = [{**target, "labels": target["labels"] + shift} for target in targets or []]
            return self.detector(list(images), shifted)
        detections = self.detector(list(images))
        return [{**detection, "labels": detection["labels"] - shift} for detection in detections]


def _state(path: str | None, key: str) -> dict | None:
    if not path:
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"model.{key}: no such file '{file}'")
    state = torch.load(file, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def resnet_pyramid(name: str, fpn_channels: int, trainable_layers: int, state: dict | None, extra_blocks=None,
                   levels: Sequence[int] = (1, 2, 3, 4)) -> nn.Module:
    """A ResNet whose stages `levels` feed a feature pyramid of `fpn_channels`. Stages below the top
    `trainable_layers` are frozen (of conv1, layer1 ... layer4), as torchvision does for pretrained backbones."""
    from torchvision import models
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    resnet = getattr(models, name)(weights=None)
    if state is not None:
        resnet.load_state_dict(state)
    trainable = ("layer4", "layer3", "layer2", "layer1", "conv1", "bn1")[: trainable_layers + (trainable_layers == 5)]
    for parameter_name, parameter in resnet.named_parameters():
        if not parameter_name.startswith(trainable):
            parameter.requires_grad_(False)
    widths = [RESNETS[name] >> (4 - level) for level in range(1, 5)]
    return BackboneWithFPN(resnet, {f"layer{level}": str(index) for index, level in enumerate(levels)},
                           [widths[level - 1] for level in levels], fpn_channels, extra_blocks=extra_blocks)


def mobilenet_pyramid(fpn_channels: int, trainable_layers: int, state: dict | None, extra_blocks=None) -> nn.Module:
    from torchvision.models import mobilenet_v3_large
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    mobilenet = mobilenet_v3_large(weights=None)
    if state is not None:
        mobilenet.load_state_dict(state)
    features = mobilenet.features
    # Stages start where the resolution halves (blocks marked _is_cn); the top `trainable_layers` stages train.
    starts = [0, *(index for index, block in enumerate(features) if getattr(block, "_is_cn", False)), len(features) - 1]
    frozen = len(features) if trainable_layers == 0 else starts[max(0, len(starts) - trainable_layers)]
    for block in features[:frozen]:
        block.requires_grad_(False)
    returned = starts[-2:]
    return BackboneWithFPN(features, {str(index): str(order) for order, index in enumerate(returned)},
                           [features[index].out_channels for index in returned], fpn_channels,
                           extra_blocks=extra_blocks)


def _pyramid(backbone: str, fpn_channels: int, trainable_layers: int, state: dict | None, extra_blocks=None,
             levels: Sequence[int] = (1, 2, 3, 4)) -> nn.Module:
    if backbone == "mobilenet_v3_large":
        return mobilenet_pyramid(fpn_channels, trainable_layers, state, extra_blocks)
    return resnet_pyramid(backbone, fpn_channels, trainable_layers, state, extra_blocks, levels)


class FasterRCNN(Detector):
    """Two stages: a region proposal network, then a head that classifies and refines each proposal."""

    display_name = "Faster R-CNN"
    head_modules = ["detector.roi_heads.box_predictor"]

    def build(self, classes, backbone, fpn_channels, trainable_layers, backbone_state):
        from torchvision.models.detection import FasterRCNN as TorchvisionFasterRCNN
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        pyramid = _pyramid(backbone, fpn_channels, trainable_layers, backbone_state)
        levels = len(pyramid.fpn.layer_blocks) + 1  # the pyramid adds a pooled level on top
        anchors = AnchorGenerator(self.anchor_sizes(levels), ((0.5, 1.0, 2.0),) * levels)
        return TorchvisionFasterRCNN(pyramid, classes, rpn_anchor_generator=anchors)

    def _set_thresholds(self, score_threshold: float, detections: int) -> None:
        self.detector.roi_heads.score_thresh = score_threshold
        self.detector.roi_heads.detections_per_img = detections


class RetinaNet(Detector):
    """One stage, dense anchors, and the focal loss that keeps the easy background from swamping training."""

    display_name = "RetinaNet"
    head_modules = ["detector.head.classification_head.cls_logits"]
    background_class = False

    def build(self, classes, backbone, fpn_channels, trainable_layers, backbone_state):
        from torchvision.models.detection import RetinaNet as TorchvisionRetinaNet
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.retinanet import RetinaNetHead
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        pyramid = _pyramid(backbone, fpn_channels, trainable_layers, backbone_state,
                           LastLevelP6P7(fpn_channels, fpn_channels), levels=(2, 3, 4))
        sizes = tuple((size, round(size * 2 ** (1 / 3)), round(size * 2 ** (2 / 3)))
                      for (size,) in self.anchor_sizes(5, (32, 64, 128, 256, 512)))
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
        head = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], classes)
        return TorchvisionRetinaNet(pyramid, classes, anchor_generator=anchors, head=head)


class FCOS(Detector):
    """One stage and no anchor boxes: every location inside an object predicts its class, its distances to the box's
    sides and how central it is."""

    display_name = "FCOS"
    head_modules = ["detector.head.classification_head.cls_logits"]
    background_class = False

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (512, 512),
                 backbone: str = "resnet18", fpn_channels: int = 256, trainable_layers: int = 5,
                 weights: str | None = None, backbone_weights: str | None = None, score_threshold: float = 0.05,
                 detections_per_image: int = 100, head_convolutions: int = 4) -> None:
        self.head_convolutions = head_convolutions
        super().__init__(num_classes, in_channels, input_size, backbone, fpn_channels, trainable_layers, weights,
                         backbone_weights, score_threshold, detections_per_image)

    def build(self, classes, backbone, fpn_channels, trainable_layers, backbone_state):
        from torchvision.models.detection import FCOS as TorchvisionFCOS
        from torchvision.models.detection.fcos import FCOSHead
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        pyramid = _pyramid(backbone, fpn_channels, trainable_layers, backbone_state,
                           LastLevelP6P7(fpn_channels, fpn_channels), levels=(2, 3, 4))
        head = FCOSHead(fpn_channels, 1, classes, num_convs=self.head_convolutions)
        return TorchvisionFCOS(pyramid, classes, head=head)


class SSDLite(Detector):
    """SSDlite on MobileNetV3-Large (torchvision's ssdlite320): light enough for phones; it sees 320x320 images."""

    display_name = "SSDlite"
    head_modules = ["detector.head.classification_head"]
    backbone_modules = ["detector.backbone.features"]

    def __init__(self, num_classes: int, in_channels: int = 3, input_size: Sequence[int] = (320, 320),
                 weights: str | None = None, backbone_weights: str | None = None, score_threshold: float = 0.05,
                 detections_per_image: int = 100) -> None:
        super().__init__(num_classes, in_channels, input_size, "mobilenet_v3_large", weights=weights,
                         backbone_weights=backbone_weights, score_threshold=score_threshold,
                         detections_per_image=detections_per_image)

    def build(self, classes, backbone, fpn_channels, trainable_layers, backbone_state):
        from torchvision.models.detection import ssdlite320_mobilenet_v3_large

        detector = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes)
        if backbone_state is not None:
            features = {name.removeprefix("features."): value for name, value in backbone_state.items()
                        if name.startswith("features.")}
            detector.backbone.features.load_state_dict(features, strict=False)
        return detector


class DetectionRows(nn.Module):
    """A detector as one tensor in, one tensor out, what ONNX and TorchScript can carry: images (1, C, H, W) of the
    size it was exported at -> (1, detections_per_image, 6) rows of x1, y1, x2, y2, score, label, the unused rows
    all -1. One image per call: torchvision's detectors unroll their batch loop when exported."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from torch.nn.functional import pad

        found = self.detector(images)[0]
        rows = torch.cat([found["boxes"], found["scores"][:, None], found["labels"][:, None].to(found["boxes"].dtype)],
                         dim=1)
        return pad(rows, (0, 0, 0, self.detector.detections_per_image - rows.shape[0]), value=-1.0)[None]


def one_image_at_a_time(run):
    """An exported detector (DetectionRows) reads one image per call: a batch run image by image, rows concatenated."""
    return lambda images: torch.cat([run(image[None]) for image in images])


def detections_from_rows(rows: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """DetectionRows' output (N, D, 6) back to a dict of boxes, scores and labels per image."""
    detections = []
    for image in rows:
        used = image[:, 4] >= 0
        detections.append({"boxes": image[used, :4], "scores": image[used, 4], "labels": image[used, 5].long()})
    return detections
