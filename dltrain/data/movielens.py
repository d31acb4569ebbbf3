"""MovieLens (Harper and Konstan, 2015) from GroupLens' own files: ml-100k/u.data (tab-separated user, item, rating,
timestamp) or ml-1m/ratings.dat (`::`-separated), under `data.root`; `download=true` fetches and unpacks the zip
where there is internet."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dltrain.data.ratings import RatingsDataModule
from dltrain.errors import UserError, first_line

VARIANTS = {"100k": ("ml-100k", "u.data", "\t"), "1m": ("ml-1m", "ratings.dat", "::")}
URL = "https://files.grouplens.org/datasets/movielens/{folder}.zip"


class MovieLensDataModule(RatingsDataModule):
    """RatingsDataModule on root/<ml-100k|ml-1m>/<ratings file>, its columns named (the files have no header)."""

    def __init__(self, root: str, variant: str = "100k", download: bool = False, **options) -> None:
        if variant not in VARIANTS:
            raise UserError(f"data.variant={variant} is unknown", f"choose one of: {', '.join(VARIANTS)}")
        folder, name, separator = VARIANTS[variant]
        self.root, self.folder, self.download = Path(root).expanduser(), folder, download
        super().__init__(path=str(self.root / folder / name), separator=separator, header=False,
                         columns=["user", "item", "rating", "timestamp"], **options)

    def load_splits(self) -> dict:
        if not self.path.is_file():
            if not self.download:
                raise UserError(f"no MovieLens file at {self.path}",
                                f"unzip {URL.format(folder=self.folder)} into data.root={self.root}, or pass "
                                "data.download=true (needs internet)")
            self._fetch()
        return super().load_splits()

    def _fetch(self) -> None:
        import urllib.request

        archive = self.root / f"{self.folder}.zip"
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            urllib.request.urlretrieve(URL.format(folder=self.folder), archive)
            with zipfile.ZipFile(archive) as unpacked:
                unpacked.extractall(self.root)
        except (OSError, zipfile.BadZipFile) as error:
            raise UserError(f"cannot download MovieLens {self.folder}: {first_line(error)}",
                            f"fetch {URL.format(folder=self.folder)} where there is internet and unzip it into "
                            f"{self.root}") from None
        finally:
            archive.unlink(missing_ok=True)
