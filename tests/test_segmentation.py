"""Semantic segmentation through the same CLI: a U-Net learns shapes on textured backgrounds from image/mask
folders, masks stay aligned with their images under augmentation, eval reproduces the run's figures, predict from the
run and from its ONNX export agree, and bad masks get one-line errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dltrain.data.dense.shapes import write_shapes
from tests.conftest import assert_user_error, run_in_process

# CI-sized: the shapes_unet recipe for 20 epochs on 300 scenes, flips its only augmentation (test mIoU 0.87 and 0.95
# at seeds 42 and 7, about 50 s on one core).
SMALL = ["experiment=shapes_unet", "data.root=shapes", "data.augment.scale=0", "data.augment.rotation=0",
         "data.augment.color_jitter=0", "trainer.max_epochs=20"]


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("segmentation")
    write_shapes(root / "shapes", "segmentation", 300, size=64, seed=0)
    result = run_in_process("train", *SMALL, "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


@pytest.mark.slow
def test_a_unet_learns_to_segment_shapes(segmenter: Path):
    metrics = json.loads((segmenter / "metrics.json").read_text())
    print(f"U-Net on shapes: test mIoU {metrics['test/miou']:.3f}, pixel accuracy {metrics['test/pixel_acc']:.3f}")
    assert metrics["test/miou"] >= 0.8
    for name in ("background", "circle", "square", "triangle"):
        assert metrics[f"test/iou_{name}"] > 0.5
    assert "val/miou" in (segmenter / "metrics.csv").read_text().splitlines()[0]
    assert "monitor: val/miou" in (segmenter / "config.yaml").read_text()
    with Image.open(segmenter / "predictions.png") as picture:
        assert picture.size[0] > 8 * 32


@pytest.mark.slow
def test_eval_reproduces_the_test_figures_and_writes_a_per_class_table(segmenter: Path):
    result = run_in_process("eval", f"run={segmenter}", cwd=segmenter.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = json.loads((segmenter / "metrics.json").read_text())
    evaluated = json.loads((segmenter / "eval.json").read_text())
    assert evaluated["test/miou"] == pytest.approx(trained["test/miou"], abs=1e-6)
    table = (segmenter / "per_class.csv").read_text().splitlines()
    assert table[0] == "class,iou,dice" and table[2].startswith("circle,")


@pytest.mark.slow
def test_predict_from_the_run_and_from_onnx_agree_at_each_images_own_size(segmenter: Path, tmp_path: Path):
    photos = tmp_path / "photos"
    write_shapes(tmp_path / "other", "segmentation", 3, size=(80, 50), seed=5)
    (tmp_path / "other" / "images").rename(photos)
    exported = run_in_process("export", f"run={segmenter}", "format=onnx", f"output={tmp_path / 'export'}",
                              cwd=segmenter.parent)
    assert exported.returncode == 0, exported.stderr[-3000:]
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["artifacts"]["onnx"]["top1_agreement"] > 0.999
    for source, output in ((f"run={segmenter}", "from_run"), (f"model={tmp_path / 'export' / 'model.onnx'}", "onnx")):
        result = run_in_process("predict", source, f"input={photos}", f"output={tmp_path / output}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    for name in ("0000", "0001", "0002"):
        with Image.open(tmp_path / "from_run" / "masks" / f"{name}.png") as mask:
            assert mask.size == (80, 50) and mask.mode == "P"
            from_run = np.asarray(mask)
        from_onnx = np.asarray(Image.open(tmp_path / "onnx" / "masks" / f"{name}.png"))
        assert (from_run == from_onnx).mean() > 0.999
        truth = np.asarray(Image.open(tmp_path / "other" / "masks" / f"{name}.png"))
        assert (from_run == truth).mean() > 0.8
        assert (tmp_path / "from_run" / "overlays" / f"{name}.png").is_file()


def test_masks_move_with_their_images_under_augmentation():
    """Blocks of one class in the mask are blocks of one grey in the image: after flips, zooms and rotations, the image
    still shows each pixel's class away from block edges (where the image is interpolated and the mask is not)."""
    from dltrain.data.dense.joint_augment import JointAugment

    torch.manual_seed(0)
    masks = torch.randint(0, 4, (16, 4, 4)).repeat_interleave(16, 1).repeat_interleave(16, 2)
    images = (masks.float() / 3)[:, None].repeat(1, 3, 1, 1)
    for options in ({"flip": True}, {"scale": 0.3}, {"rotation": 30}, {"flip": True, "scale": 0.2, "rotation": 10}):
        moved_images, moved_masks = JointAugment(**options)(images.clone(), masks.clone())
        inside = moved_masks != 255
        seen = (moved_images[:, 0] * 3).round().long()
        assert (seen[inside] == moved_masks[inside]).float().mean() > 0.95, options
        assert not torch.equal(moved_masks, masks)
        assert set(moved_masks.unique().tolist()) <= {0, 1, 2, 3, 255}
    flipped_images, flipped_masks = JointAugment(flip=True)(images, masks)
    assert all(torch.equal(moved, mask) or torch.equal(moved, mask.flip(-1))
               for moved, mask in zip(flipped_masks, masks, strict=True))


def _folder(root: Path, count: int = 6) -> Path:
    write_shapes(root, "segmentation", count, size=24, seed=1)
    return root


def _load(root: Path, **options):
    from dltrain.data.dense.segmentation import SegmentationFolderDataModule

    data = SegmentationFolderDataModule(str(root), seed=0, val_fraction=0.2, test_fraction=0.2, **options)
    data.setup()
    return data


def test_a_segmentation_folder_reads_class_names_and_resizes_masks_by_nearest(tmp_path: Path):
    data = _load(_folder(tmp_path / "d", 10), image_size=16)
    assert data.class_names == ["background", "circle", "square", "triangle"]
    assert data.spec == {"in_channels": 3, "input_size": [16, 16], "num_classes": 4, "input_kind": "images"}
    masks = torch.cat([data.splits[split][1] for split in ("train", "val", "test")])
    assert masks.dtype == torch.uint8 and set(masks.unique().tolist()) <= {0, 1, 2, 3}
    assert [data.split_size(split) for split in ("train", "val", "test")] == [6, 2, 2]


def test_a_last_training_batch_of_one_example_is_left_out(tmp_path: Path):
    """Batch norm cannot train on one example pooled to 1x1 (DeepLabV3): 7 training pairs in batches of 3 are two
    batches of 3, a different pair left out each epoch; evaluation keeps every example."""
    data = _load(_folder(tmp_path / "d", 11), batch_size=3)
    batches = data.loader("train", shuffle=True)
    assert [len(masks) for _, masks in batches] == [3, 3] and len(batches) == 2
    assert [len(masks) for _, masks in data.loader("test")] == [2]
    data.batch_size = 4
    assert [len(masks) for _, masks in data.loader("train", shuffle=True)] == [4, 3]


def test_without_class_names_the_classes_are_the_mask_ids(tmp_path: Path):
    root = _folder(tmp_path / "d", 10)
    (root / "classes.txt").unlink()
    assert _load(root).class_names == ["0", "1", "2", "3"]
    assert _load(root, classes=["sky", "ball", "box", "tent"]).class_names == ["sky", "ball", "box", "tent"]


def test_palette_masks_and_pascal_voc_layout(tmp_path: Path):
    """VOC's masks are palette PNGs with 255 on object borders; its val list is the test split."""
    from dltrain.data.dense.segmentation import VOCSegmentationDataModule
    from dltrain.tasks.dense.pictures import palette

    voc = tmp_path / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True)
    names = [f"2007_{index:06d}" for index in range(8)]
    for index, name in enumerate(names):
        Image.fromarray(np.full((30, 40, 3), index * 20, np.uint8)).save(voc / "JPEGImages" / f"{name}.jpg")
        ids = np.zeros((30, 40), np.uint8)
        ids[5:20, 5:25], ids[4, 5:25] = 15 if index % 2 else 12, 255
        mask = Image.frombytes("P", (40, 30), ids.tobytes())
        mask.putpalette(palette().flatten().tolist())
        mask.save(voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("\n".join(names[:6]) + "\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("\n".join(names[6:]) + "\n")
    data = VOCSegmentationDataModule(str(tmp_path / "VOCdevkit"), seed=0, val_fraction=0.2)
    data.setup()
    assert len(data.class_names) == 21 and data.class_names[15] == "person"
    assert [data.split_size(split) for split in ("train", "val", "test")] == [5, 1, 2]
    assert set(torch.cat([data.splits[s][1] for s in ("train", "val", "test")]).unique().tolist()) == {0, 12, 15, 255}


def test_bad_masks_are_one_line_errors_naming_the_file(tmp_path: Path):
    root = _folder(tmp_path / "mismatch")
    Image.new("L", (10, 10)).save(root / "masks" / "0003.png")
    result = run_in_process("train", "task=segmentation", "model=unet", "data=segmentation_folder",
                            "data.root=mismatch", cwd=tmp_path)
    assert_user_error(result, "0003.png is 10x10 but its image", "24x24", "data.skip_invalid=true")

    root = _folder(tmp_path / "beyond")
    ids = np.zeros((24, 24), np.uint8)
    ids[3, 3] = 7
    Image.fromarray(ids).save(root / "masks" / "0002.png")
    result = run_in_process("train", "task=segmentation", "model=unet", "data=segmentation_folder", "data.root=beyond",
                            cwd=tmp_path)
    assert_user_error(result, "class id 7", "4 classes", "data.classes")

    root = _folder(tmp_path / "missing")
    (root / "masks" / "0001.png").unlink()
    result = run_in_process("train", "task=segmentation", "model=unet", "data=segmentation_folder", "data.root=missing",
                            cwd=tmp_path)
    assert_user_error(result, "0001.png has no mask", "data.skip_invalid=true")

    root = _folder(tmp_path / "colour")
    Image.new("RGB", (24, 24)).save(root / "masks" / "0004.png")
    result = run_in_process("train", "task=segmentation", "model=unet", "data=segmentation_folder", "data.root=colour",
                            cwd=tmp_path)
    assert_user_error(result, "0004.png is a RGB image", "class ids")


def test_skip_invalid_leaves_bad_pairs_out_and_counts_them(tmp_path: Path, caplog):
    root = _folder(tmp_path / "d", 10)
    Image.new("L", (10, 10)).save(root / "masks" / "0003.png")
    (root / "masks" / "0005.png").unlink()
    data = _load(root, skip_invalid=True)
    assert sum(data.split_size(split) for split in ("train", "val", "test")) == 8
    assert len(data.skipped) == 2


def test_a_classifier_model_is_refused_for_segmentation(tmp_path: Path):
    _folder(tmp_path / "d")
    result = run_in_process("train", "task=segmentation", "model=resnet", "data=segmentation_folder", "data.root=d",
                            cwd=tmp_path)
    assert_user_error(result, "segmenter", "model=unet")
    result = run_in_process("train", "task=segmentation", "model=unet", cwd=tmp_path)
    assert_user_error(result, "task=segmentation learns from masks, but data=digits gives classes",
                      "data=segmentation_folder, data=voc")
    result = run_in_process("train", "data=segmentation_folder", "data.root=d", cwd=tmp_path)
    assert_user_error(result, "task=classification learns from classes", "gives masks")


def test_torchvision_segmenters_read_any_size_and_take_backbone_weights(tmp_path: Path):
    from torchvision.models import resnet50

    from dltrain.models.torchvision_segmenters import FCN, DeepLabV3

    state = resnet50().state_dict()
    torch.save(state, tmp_path / "resnet50.pth")
    fcn = FCN(5, 1, (40, 48), backbone_weights=str(tmp_path / "resnet50.pth"))
    assert torch.equal(fcn.network.backbone.conv1.weight, state["conv1.weight"])
    assert fcn(torch.rand(2, 1, 40, 48)).shape == (2, 5, 40, 48)
    deeplab = DeepLabV3(3, 3, (33, 33), backbone="mobilenet_v3_large")
    assert deeplab(torch.rand(2, 3, 33, 33)).shape == (2, 3, 33, 33)
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        FCN(3, backbone="vgg")
