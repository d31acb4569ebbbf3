"""MNIST and Fashion-MNIST: 70,000 28x28 grayscale images each, in the idx files LeCun et al. published."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from dltrain.data.published import PublishedImageDataModule, open_maybe_gzipped
from dltrain.errors import UserError

IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801


class MNISTDataModule(PublishedImageDataModule):
    """Reads `train-*`/`t10k-*` idx files (plain or .gz) from the root or torchvision's `<Name>/raw`."""

    title = "MNIST"
    torchvision_name = "MNIST"
    folders = ("MNIST/raw", "raw")
    files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    files_note = " (plain or .gz)"
    url = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    names = [str(digit) for digit in range(10)]

    def read(self, folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        self.class_names = list(self.names)
        splits = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            images = read_idx(folder / f"{prefix}-images-idx3-ubyte", IMAGES_MAGIC)
            labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte", LABELS_MAGIC).long()
            if len(images) != len(labels):
                raise UserError(f"{folder}: {prefix} has {len(images)} images but {len(labels)} labels",
                                "the files are from different downloads; fetch them again")
            if len(labels) and int(labels.max()) >= len(self.names):
                raise UserError(f"{folder}/{prefix}-labels-idx1-ubyte holds label {int(labels.max())}, "
                                f"but {self.title} has {len(self.names)} classes", "fetch the files again")
            splits[split] = images.unsqueeze(1), labels
        return splits


class FashionMNISTDataModule(MNISTDataModule):
    """Zalando's drop-in replacement for MNIST: clothing in 10 classes, the same files and sizes."""

    title = "Fashion-MNIST"
    torchvision_name = "FashionMNIST"
    folders = ("FashionMNIST/raw", "raw")
    url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]


def read_idx(path: Path, magic: int) -> torch.Tensor:
    """An idx file of unsigned bytes as a uint8 tensor: big-endian magic, one int32 per dimension, data."""
    with open_maybe_gzipped(path) as handle:
        content = handle.read()
    dimensions = magic & 0xFF
    header = 4 + 4 * dimensions
    if len(content) < header or struct.unpack(">I", content[:4])[0] != magic:
        raise UserError(f"{path} is not an idx file of this kind (wrong magic number or too short)",
                        "replace it with the published file of that name")
    shape = struct.unpack(f">{dimensions}I", content[4:header])
    if len(content) - header != int(np.prod(shape)):
        raise UserError(f"{path} is truncated or damaged: its header promises {int(np.prod(shape))} bytes "
                        f"of data ({'x'.join(map(str, shape))}), it holds {len(content) - header}",
                        "fetch the file again")
    return torch.from_numpy(np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape).copy())
