"""Published datasets read from `data.root`: finding their files, or downloading them through torchvision."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dltrain.data.images import ImageDataModule
from dltrain.errors import UserError, first_line


class PublishedImageDataModule(ImageDataModule):
    """A dataset that ships its own train and test split as files; val is held out of train by
    `val_fraction`, stratified by `seed`.

    Subclasses name the files (`files`), where torchvision puts them under the root (`folders`), the
    torchvision class that downloads them (`torchvision_name`) and read them (`read`).
    """

    title = ""
    torchvision_name = ""
    folders: Sequence[str] = ()
    files: Sequence[str] = ()
    files_note = ""
    url = ""

    def __init__(self, root: str, download: bool = False, **options) -> None:
        super().__init__(test_fraction=0.0, **options)
        self.root = Path(root).expanduser()
        self.download = download

    def read(self, folder: Path) -> dict[str, tuple]:
        """{'train': (images, labels), 'test': (...)} from the files in `folder`; sets `class_names`."""
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple]:
        folder = self.locate() or (self.fetch() if self.download else None)
        if folder is None:
            raise UserError(self._missing(), f"pass data.download=true to fetch them (needs internet), or copy "
                                             f"them there from {self.url}")
        splits = self.read(folder)
        images, labels = splits["train"]
        train, val = self.hold_out(labels, self.val_fraction)
        return {"train": (images[train], labels[train]), "val": (images[val], labels[val]), "test": splits["test"]}

    def candidates(self) -> list[Path]:
        """Where the files may be: torchvision's layout under the root first, then the root itself."""
        return [*(self.root / folder for folder in self.folders), self.root]

    def locate(self) -> Path | None:
        for folder in self.candidates():
            if all(_present(folder / name) for name in self.files):
                return folder
        return None

    def fetch(self) -> Path:
        import torchvision.datasets

        try:
            getattr(torchvision.datasets, self.torchvision_name)(str(self.root), train=True, download=True)
        except (OSError, RuntimeError, ValueError) as error:
            reason = first_line(error)
            raise UserError(f"cannot download {self.title} into {self.root}: {reason}",
                            f"check the internet connection, or copy the files there from {self.url}") from None
        folder = self.locate()
        if folder is None:
            raise UserError(self._missing(), f"copy the files there from {self.url}")
        return folder

    def _missing(self) -> str:
        looked = ", ".join(str(folder) for folder in self.candidates())
        return (f"no {self.title} files under data.root={self.root} (looked in {looked}); expected "
                f"{', '.join(self.files)}{self.files_note}")


def _present(path: Path) -> bool:
    """The file itself, or its .gz as published, counts."""
    return path.is_file() or path.with_name(path.name + ".gz").is_file()


def open_maybe_gzipped(path: Path):
    """A binary file handle on `path`, or on `path.gz` decompressed on the fly."""
    import gzip

    return open(path, "rb") if path.is_file() else gzip.open(path.with_name(path.name + ".gz"), "rb")
