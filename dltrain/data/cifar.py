"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 60,000 32x32 colour images, in the published python batches."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from dltrain.data.published import PublishedImageDataModule
from dltrain.errors import UserError


class CIFAR10DataModule(PublishedImageDataModule):
    """Reads `cifar-10-batches-py/` (as torchvision extracts it) or the same files directly in the root.

    The batches are pickles, which can run code when loaded; they are read with an unpickler that admits
    only numpy arrays, so a tampered file is refused instead of executed.
    """

    title = "CIFAR-10"
    torchvision_name = "CIFAR10"
    folders = ("cifar-10-batches-py",)
    files = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
             "batches.meta")
    url = "https://www.cs.toronto.edu/~kriz/cifar.html"
    label_key, names_key = "labels", "label_names"
    train_files = files[:5]
    test_file, meta_file = "test_batch", "batches.meta"

    def read(self, folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        self.class_names = [str(name) for name in read_batch(folder / self.meta_file)[self.names_key]]
        batches = [read_batch(folder / name) for name in self.train_files]
        test = [read_batch(folder / self.test_file)]
        return {"train": self._tensors(batches, folder), "test": self._tensors(test, folder)}

    def _tensors(self, batches: list[dict], folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            images = np.concatenate([np.asarray(batch["data"], dtype=np.uint8) for batch in batches])
            labels = np.concatenate([np.asarray(batch[self.label_key], dtype=np.int64) for batch in batches])
            images = images.reshape(-1, 3, 32, 32)
        except (KeyError, ValueError) as error:
            raise UserError(f"{folder} holds {self.title} batches of an unexpected layout ({error})",
                            "replace them with the published files") from None
        if len(images) != len(labels) or (len(labels) and labels.max() >= len(self.class_names)):
            raise UserError(f"{folder}: images, labels and class names of {self.title} do not match",
                            "replace the files with the published ones")
        return torch.from_numpy(images.copy()), torch.from_numpy(labels)


class CIFAR100DataModule(CIFAR10DataModule):
    """100 fine classes (the 20 coarse superclasses are not used); files under `cifar-100-python/`."""

    title = "CIFAR-100"
    torchvision_name = "CIFAR100"
    folders = ("cifar-100-python",)
    files = ("train", "test", "meta")
    label_key, names_key = "fine_labels", "fine_label_names"
    train_files = ("train",)
    test_file, meta_file = "test", "meta"


class _ArraysOnly(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """One pickled batch as a dict with str keys (the files were written by Python 2, keys as bytes)."""
    try:
        with open(path, "rb") as handle:
            content = _ArraysOnly(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise UserError(f"{path} is not a CIFAR batch ({error})", "replace it with the published file") from None
    if not isinstance(content, dict):
        raise UserError(f"{path} is not a CIFAR batch (it holds a {type(content).__name__})",
                        "replace it with the published file")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()}
