"""Object detection through the same CLI: FCOS learns to find shapes from YOLO labels, COCO and YOLO files of the same
boxes give the same training data, boxes move with their images under augmentation, eval reproduces the run's
figures, predict from the run and from its ONNX export agree, and bad labels get one-line errors naming the file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from dltrain.data.dense.shapes import write_shapes
from tests.conftest import assert_user_error, run_in_process

# CI-sized: the shapes_fcos recipe without augmentation, 12 epochs on 300 scenes (val mAP@.5 0.80 and 0.76 after
# 10 epochs at seeds 42 and 7, about 9 s an epoch on one core).
SMALL = ["experiment=shapes_fcos", "data.root=shapes", "data.augment.flip=false", "data.augment.scale=0",
         "data.augment.color_jitter=0", "trainer.max_epochs=12"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("detection")
    write_shapes(root / "shapes", "yolo", 300, size=64, seed=0)
    result = run_in_process("train", *SMALL, "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


@pytest.mark.slow
def test_fcos_learns_to_find_shapes(detector: Path):
    metrics = json.loads((detector / "metrics.json").read_text())
    print(f"FCOS on shapes: test mAP@.5 {metrics['test/map_50']:.3f}, mAP@[.5:.95] {metrics['test/map']:.3f}")
    assert metrics["test/map_50"] >= 0.7
    assert all(f"test/ap_{name}" in metrics for name in ("circle", "square", "triangle"))
    assert "monitor: val/map" in (detector / "config.yaml").read_text()
    with Image.open(detector / "predictions.png") as picture:
        assert picture.size[0] > 8 * 64


@pytest.mark.slow
def test_eval_reproduces_the_test_figures_and_writes_a_per_class_table(detector: Path):
    result = run_in_process("eval", f"run={detector}", cwd=detector.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = json.loads((detector / "metrics.json").read_text())
    evaluated = json.loads((detector / "eval.json").read_text())
    assert evaluated["test/map"] == pytest.approx(trained["test/map"], abs=1e-6)
    assert (detector / "per_class.csv").read_text().splitlines()[0] == "class,ap"


@pytest.mark.slow
def test_predict_from_the_run_and_from_onnx_agree_in_each_images_pixels(detector: Path, tmp_path: Path):
    write_shapes(tmp_path / "other", "yolo", 3, size=(96, 80), seed=9)
    exported = run_in_process("export", f"run={detector}", "format=onnx", f"output={tmp_path / 'export'}",
                              "examples=4", cwd=detector.parent)
    assert exported.returncode == 0, exported.stderr[-3000:]
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["input"]["shape"] == [1, 3, 64, 64] and "one image per call" in manifest["output"]["meaning"]
    rows = {}
    for source, output in ((f"run={detector}", "from_run"), (f"model={tmp_path / 'export' / 'model.onnx'}", "onnx")):
        result = run_in_process("predict", source, f"input={tmp_path / 'other' / 'images'}",
                                f"output={tmp_path / output}", "score_threshold=0.3", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / output / "boxes.csv") as handle:
            rows[output] = list(csv.DictReader(handle))
        assert (tmp_path / output / "annotated" / "0000.png").is_file()
    assert len(rows["from_run"]) == len(rows["onnx"]) > 0
    for ours, theirs in zip(rows["from_run"], rows["onnx"], strict=True):
        assert ours["label"] == theirs["label"] and ours["input"] == theirs["input"]
        assert all(abs(float(ours[key]) - float(theirs[key])) < 0.2 for key in ("x1", "y1", "x2", "y2"))
    assert max(float(row["x2"]) for row in rows["from_run"]) > 64  # in the 96x80 images' own pixels


def _both_layouts(root: Path, count: int = 12) -> tuple[Path, Path]:
    return write_shapes(root / "coco", "coco", count, size=40, seed=3), write_shapes(root / "yolo", "yolo", count,
                                                                                     size=40, seed=3)


def _load(kind: str, root: Path, **options):
    from dltrain.data.dense.detection import COCODataModule, YOLODataModule

    module = COCODataModule if kind == "coco" else YOLODataModule
    data = module(str(root), seed=0, val_fraction=0.25, test_fraction=0.25, **options)
    data.setup()
    return data


def test_coco_and_yolo_files_of_the_same_boxes_give_the_same_training_data(tmp_path: Path):
    coco_root, yolo_root = _both_layouts(tmp_path)
    coco, yolo = _load("coco", coco_root, image_size=32), _load("yolo", yolo_root, image_size=32)
    assert coco.class_names == yolo.class_names == ["circle", "square", "triangle"]
    assert coco.spec == yolo.spec
    for split in ("train", "val", "test"):
        (coco_images, coco_targets), (yolo_images, yolo_targets) = coco.splits[split], yolo.splits[split]
        assert torch.equal(coco_images, yolo_images)
        for ours, theirs in zip(coco_targets.targets, yolo_targets.targets, strict=True):
            assert torch.equal(ours["labels"], theirs["labels"])
            assert torch.allclose(ours["boxes"], theirs["boxes"], atol=1e-3)
    assert sum(len(target["boxes"]) for target in coco.splits["train"][1].targets) > 6


def test_boxes_move_with_their_images_under_augmentation():
    """A white box drawn on black: after flips and zooms the moved box still frames the white pixels."""
    from dltrain.data.dense.joint_augment import JointAugment

    torch.manual_seed(0)
    images = torch.zeros(12, 3, 48, 48)
    boxes = []
    for index in range(12):
        x1, y1 = 4 + index, 6 + 2 * index % 20
        images[index, :, y1 : y1 + 14, x1 : x1 + 18] = 1.0
        boxes.append({"boxes": torch.tensor([[x1, y1, x1 + 18.0, y1 + 14.0]]), "labels": torch.tensor([1])})
    moved_images, moved = JointAugment(flip=True, scale=0.3).with_boxes(images, boxes)
    checked = 0
    for image, target in zip(moved_images, moved, strict=True):
        if not len(target["boxes"]):
            continue
        x1, y1, x2, y2 = target["boxes"][0].tolist()
        white = (image[0] > 0.5).nonzero()
        assert abs(white[:, 1].min() - x1) <= 1.5 and abs(white[:, 1].max() + 1 - x2) <= 1.5
        assert abs(white[:, 0].min() - y1) <= 1.5 and abs(white[:, 0].max() + 1 - y2) <= 1.5
        checked += 1
    assert checked >= 8


def test_images_without_boxes_are_kept_and_partly_outside_boxes_clipped(tmp_path: Path):
    _, yolo_root = _both_layouts(tmp_path, 8)
    (yolo_root / "labels" / "0002.txt").write_text("")
    (yolo_root / "labels" / "0003.txt").unlink()
    (yolo_root / "labels" / "0004.txt").write_text("1 0.95 0.5 0.2 0.2\n")
    data = _load("yolo", yolo_root, image_size=40)
    targets = [target for split in ("train", "val", "test") for target in data.splits[split][1].targets]
    assert len(targets) == 8 and data.clipped == 1
    assert max(float(target["boxes"][:, 2].max()) for target in targets if len(target["boxes"])) <= 40


def test_bad_labels_are_one_line_errors_naming_the_file(tmp_path: Path):
    _, yolo_root = _both_layouts(tmp_path / "outside", 6)
    (yolo_root / "labels" / "0001.txt").write_text("0 1.4 0.5 0.2 0.2\n")
    result = run_in_process("train", "task=detection", "model=fcos", "data=yolo", "data.root=outside/yolo",
                            cwd=tmp_path)
    assert_user_error(result, "0001.txt", "lies outside the 40x40 image", "data.skip_invalid=true")

    coco_root, _ = _both_layouts(tmp_path / "missing", 6)
    (coco_root / "images" / "0004.png").unlink()
    result = run_in_process("train", "task=detection", "model=fcos", "data=coco", "data.root=missing/coco",
                            cwd=tmp_path)
    assert_user_error(result, "annotations.json lists 1 image(s) missing", "0004.png", "data.skip_invalid=true")

    _, yolo_root = _both_layouts(tmp_path / "garbled", 6)
    (yolo_root / "labels" / "0000.txt").write_text("0 0.5 0.5\n")
    result = run_in_process("train", "task=detection", "model=fcos", "data=yolo", "data.root=garbled/yolo",
                            cwd=tmp_path)
    assert_user_error(result, "0000.txt line 1", "class cx cy w h")

    _, yolo_root = _both_layouts(tmp_path / "unknown", 6)
    (yolo_root / "labels" / "0000.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    result = run_in_process("train", "task=detection", "model=fcos", "data=yolo", "data.root=unknown/yolo",
                            cwd=tmp_path)
    assert_user_error(result, "0000.txt: class 5 is not one of the 3 classes")


def test_skip_invalid_leaves_bad_images_out_and_counts_them(tmp_path: Path):
    coco_root, _ = _both_layouts(tmp_path, 10)
    (coco_root / "images" / "0004.png").unlink()
    document = json.loads((coco_root / "annotations.json").read_text())
    document["annotations"][0]["bbox"] = [100, 100, 5, 5]
    (coco_root / "annotations.json").write_text(json.dumps(document))
    data = _load("coco", coco_root, skip_invalid=True)
    assert sum(data.split_size(split) for split in ("train", "val", "test")) == 8
    assert len(data.skipped) == 2


def test_a_segmentation_model_is_refused_for_detection(tmp_path: Path):
    _both_layouts(tmp_path, 6)
    result = run_in_process("train", "task=detection", "model=unet", "data=yolo", "data.root=yolo", cwd=tmp_path)
    assert_user_error(result, "detector", "model=fcos")


def test_every_detector_trains_a_step_and_detects(tmp_path: Path):
    from dltrain.models import detectors

    images = torch.rand(2, 3, 64, 64)
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 30.0, 30.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    for build in (detectors.FasterRCNN, detectors.RetinaNet, detectors.FCOS):
        model = build(3, 3, (64, 64), fpn_channels=32)
        losses = model(images, targets)
        sum(losses.values()).backward()
        model.eval()
        found = model(images)
        assert len(found) == 2 and set(found[0]) == {"boxes", "labels", "scores"}
        assert all(0 <= label <= 2 for label in found[0]["labels"].tolist())


def test_transfer_from_torchvision_detector_weights_replaces_the_class_layer(tmp_path: Path):
    """A torchvision-style weights file (the detector's own state_dict, as torchvision publishes them) starts a new
    detector: everything loads but the class layer, and freeze=backbone fixes the feature extractor only."""
    from dltrain.models.detectors import FCOS

    write_shapes(tmp_path / "small", "yolo", 16, size=48, seed=2)
    torch.save(FCOS(5, 3, (48, 48), fpn_channels=32, head_convolutions=1).detector.state_dict(),
               tmp_path / "fcos.pth")
    result = run_in_process("transfer", "source=torchvision", "model=fcos", "model.fpn_channels=32",
                            "model.head_convolutions=1", "model.weights=fcos.pth", "task=detection", "data=yolo",
                            "data.root=small", "trainer.max_epochs=1", "task.pictures=0", "hydra.run.dir=run",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "- detector.backbone.body" in config
    assert "detector.head.classification_head.cls_logits.weight" in config  # the source's head, not loaded
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test/map"] >= 0


def test_torchvisions_own_networks_load_whole_but_for_their_class_layers(tmp_path: Path):
    """source=torchvision with the weights file of torchvision's fasterrcnn_resnet50_fpn (or deeplabv3_resnet50): every
    tensor finds its place in dltrain's model of the same backbone and pyramid width, the class layer aside."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn
    from torchvision.models.segmentation import deeplabv3_resnet50

    from dltrain.models.detectors import FasterRCNN
    from dltrain.models.torchvision_segmenters import DeepLabV3
    from dltrain.transfer import head_names, load_backbone, load_source

    cases = ((fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None), FasterRCNN(3, 3, (128, 128), "resnet50",
                                                                                      fpn_channels=256),
              {"_target_": "dltrain.models.detectors.FasterRCNN", "backbone": "resnet50", "fpn_channels": 256},
              {"detector.roi_heads.box_predictor.cls_score.weight", "detector.roi_heads.box_predictor.bbox_pred.bias"}),
             (deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False), DeepLabV3(3, 3, (64, 64)),
              {"_target_": "dltrain.models.torchvision_segmenters.DeepLabV3", "backbone": "resnet50"},
              {"network.classifier.4.weight", "network.classifier.4.bias"}))
    for index, (theirs, ours, config, class_layer) in enumerate(cases):
        torch.save(theirs.state_dict(), tmp_path / f"{index}.pth")
        source = load_source("torchvision", {**config, "weights": str(tmp_path / f"{index}.pth")})
        report = load_backbone(ours, source.weights, head_names(ours))
        assert not report.mismatched and not report.skipped
        assert class_layer <= set(report.new) and len(report.new) <= 4
        assert len(report.loaded) == len(theirs.state_dict()) - len(report.new)
