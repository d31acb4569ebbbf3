"""MNIST, Fashion-MNIST, CIFAR-10/100 and image folders read from files fabricated in their real formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from dltrain.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from dltrain.data.image_folder import ImageFolderDataModule
from dltrain.data.mnist import FashionMNISTDataModule, MNISTDataModule
from dltrain.errors import UserError
from tests.fabricate import write_cifar10, write_cifar100, write_idx, write_image_tree, write_mnist


def test_mnist_reads_torchvision_layout_and_holds_out_val(tmp_path: Path):
    write_mnist(tmp_path / "MNIST" / "raw", train=100, test=40)
    data = MNISTDataModule(root=str(tmp_path), val_fraction=0.1)
    data.setup()
    images, labels = data.splits["train"]
    assert images.dtype == torch.uint8 and list(images.shape[1:]) == [1, 28, 28]
    assert {name: len(split[1]) for name, split in data.splits.items()} == {"train": 90, "val": 10, "test": 40}
    assert torch.bincount(data.splits["val"][1], minlength=10).tolist() == [1] * 10
    assert data.class_names == [str(k) for k in range(10)]
    assert data.sizes == {"in_channels": 1, "input_size": [28, 28], "num_classes": 10}


def test_fashion_mnist_reads_gzipped_files_in_the_root(tmp_path: Path):
    write_mnist(tmp_path, compress=True)
    data = FashionMNISTDataModule(root=str(tmp_path), image_size=32)
    assert data.sizes == {"in_channels": 1, "input_size": [32, 32], "num_classes": 10}
    assert data.class_names[0] == "T-shirt/top" and data.class_names[-1] == "Ankle boot"


def test_missing_files_name_the_folder_the_files_and_the_download_option(tmp_path: Path):
    with pytest.raises(UserError) as caught:
        MNISTDataModule(root=str(tmp_path)).setup()
    message = str(caught.value)
    assert str(tmp_path) in message and str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "data.download=true" in message


def test_download_failure_is_a_user_error(tmp_path: Path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(UserError, match="cannot download MNIST into .*Error downloading"):
        MNISTDataModule(root=str(tmp_path), download=True).setup()


def test_truncated_idx_file_is_reported(tmp_path: Path):
    folder = write_mnist(tmp_path)
    image_file = folder / "train-images-idx3-ubyte"
    image_file.write_bytes(image_file.read_bytes()[:-100])
    with pytest.raises(UserError, match="train-images-idx3-ubyte is truncated or damaged"):
        MNISTDataModule(root=str(tmp_path)).setup()


def test_labels_file_in_place_of_images_is_reported(tmp_path: Path):
    folder = write_mnist(tmp_path)
    write_idx(folder / "train-images-idx3-ubyte", torch.zeros(100, dtype=torch.uint8).numpy())
    with pytest.raises(UserError, match="not an idx file of this kind"):
        MNISTDataModule(root=str(tmp_path)).setup()


def test_cifar10_reads_the_python_batches(tmp_path: Path):
    write_cifar10(tmp_path, per_batch=30, test=40)
    data = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2)
    data.setup()
    assert {name: len(split[1]) for name, split in data.splits.items()} == {"train": 120, "val": 30, "test": 40}
    assert data.sizes == {"in_channels": 3, "input_size": [32, 32], "num_classes": 10}
    assert data.class_names[:2] == ["airplane", "automobile"]
    images = data.splits["test"][0]
    assert images.dtype == torch.uint8 and int(images.max()) == 255


def test_cifar100_uses_the_fine_labels(tmp_path: Path):
    write_cifar100(tmp_path / "cifar-100-python" / "..", classes=4)
    data = CIFAR100DataModule(root=str(tmp_path))
    assert data.sizes == {"in_channels": 3, "input_size": [32, 32], "num_classes": 100}
    assert data.class_names[99] == "fine_99"


def test_a_pickle_that_would_run_code_is_refused_not_run(tmp_path: Path):
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": Payload()}, protocol=2))
    with pytest.raises(UserError, match="data_batch_3 is not a CIFAR batch .*refusing to load"):
        CIFAR10DataModule(root=str(tmp_path)).setup()
    assert not marker.exists()


def test_image_folder_split_by_fractions_keeps_every_class(tmp_path: Path):
    write_image_tree(tmp_path, classes=("cat", "dog", "fox"), per_class=10)
    data = ImageFolderDataModule(root=str(tmp_path), image_size=24, val_fraction=0.2, test_fraction=0.2)
    data.setup()
    assert data.class_names == ["cat", "dog", "fox"]
    assert {name: len(split[1]) for name, split in data.splits.items()} == {"train": 18, "val": 6, "test": 6}
    assert list(data.splits["train"][0].shape[1:]) == [3, 24, 24] and data.in_memory
    assert data.sizes == {"in_channels": 3, "input_size": [24, 24], "num_classes": 3}


def test_image_folder_with_train_and_test_folders_holds_val_out_of_train(tmp_path: Path):
    write_image_tree(tmp_path / "train", classes=("a", "b"), per_class=10)
    write_image_tree(tmp_path / "test", classes=("a", "b"), per_class=3, seed=5)
    data = ImageFolderDataModule(root=str(tmp_path), image_size=16, channels=1, normalize=None,
                                 val_fraction=0.2)
    data.setup()
    assert {name: len(split[1]) for name, split in data.splits.items()} == {"train": 16, "val": 4, "test": 6}
    assert data.spec["in_channels"] == 1


def test_image_folder_rejects_a_class_that_has_no_train_images(tmp_path: Path):
    write_image_tree(tmp_path / "train", classes=("a", "b"), per_class=6)
    write_image_tree(tmp_path / "val", classes=("a", "c"), per_class=2)
    with pytest.raises(UserError, match=r"val/c is a class the train images do not have"):
        ImageFolderDataModule(root=str(tmp_path), image_size=16).setup()


def test_corrupt_image_is_named_or_skipped_and_counted(tmp_path: Path):
    write_image_tree(tmp_path, classes=("a", "b"), per_class=10)
    broken = tmp_path / "b" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "a" / "notes.txt").write_text("not an image, ignored")
    with pytest.raises(UserError, match=r"cannot read image .*broken\.jpg.*data\.skip_corrupt=true"):
        ImageFolderDataModule(root=str(tmp_path), image_size=16).setup()
    data = ImageFolderDataModule(root=str(tmp_path), image_size=16, skip_corrupt=True)
    data.setup()
    assert data.skipped == [broken]
    assert sum(len(split[1]) for split in data.splits.values()) == 20


def test_image_folder_too_large_for_memory_streams_the_same_images(tmp_path: Path):
    write_image_tree(tmp_path, classes=("a", "b"), per_class=10)
    broken = tmp_path / "a" / "zz.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    options = dict(root=str(tmp_path), image_size=16, skip_corrupt=True, normalize=None, augment=None)
    in_memory = ImageFolderDataModule(**options)
    streamed = ImageFolderDataModule(**options, max_memory_gb=0, num_workers=0)
    in_memory.setup()
    streamed.setup()
    assert not streamed.in_memory and streamed.skipped == [broken]
    streamed_images, streamed_labels = next(iter(streamed.loader("test")))
    images, labels = in_memory.splits["test"]
    assert torch.equal(streamed_images, images[: len(streamed_images)])
    assert torch.equal(streamed_labels, labels[: len(streamed_labels)])


def test_image_folder_errors_for_a_missing_root_or_a_single_class(tmp_path: Path):
    with pytest.raises(UserError, match="data.root: no such directory"):
        ImageFolderDataModule(root=str(tmp_path / "nowhere")).setup()
    write_image_tree(tmp_path, classes=("only",), per_class=4)
    with pytest.raises(UserError, match="found 1 class folder"):
        ImageFolderDataModule(root=str(tmp_path)).setup()


def test_normalize_must_match_the_channels(tmp_path: Path):
    write_mnist(tmp_path)
    data = MNISTDataModule(root=str(tmp_path), normalize={"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]})
    with pytest.raises(UserError, match="normalize.mean has 3 values but the images have 1 channel"):
        data.setup()


def test_image_folder_needs_an_image_size_and_valid_channels(tmp_path: Path):
    with pytest.raises(UserError, match="data.image_size must be set"):
        ImageFolderDataModule(root=str(tmp_path), image_size=None)
    with pytest.raises(UserError, match="data.channels=2 is invalid"):
        ImageFolderDataModule(root=str(tmp_path), channels=2)
