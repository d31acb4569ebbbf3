"""Labelled clips in class folders, `root/<label>/*.wav`: the Speech Commands layout (keyword spotting)."""

from __future__ import annotations

from pathlib import Path

import torch

from dltrain.data.audio import AudioDataModule
from dltrain.errors import UserError

LAYOUT = "root/<label>/<clip>.wav (optional root/validation_list.txt and root/testing_list.txt)"
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


class AudioFolderDataModule(AudioDataModule):
    """Labels are the folder names, sorted; folders starting with `_` (Speech Commands' `_background_noise_`)
    are not classes. `validation_list.txt` / `testing_list.txt` (paths relative to root, one per line) put
    those clips in val / test, as Speech Commands publishes them; a split without its list is held out of
    train by `val_fraction` / `test_fraction`."""

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if not self.root.is_dir():
            raise UserError(f"data.root: no such directory '{self.root}'", f"pass a folder laid out as {LAYOUT}")
        by_label = {folder.name: wav_files(folder) for folder in sorted(self.root.iterdir())
                    if folder.is_dir() and not folder.name.startswith(("_", "."))}
        by_label = {label: files for label, files in by_label.items() if files}
        if len(by_label) < 2:
            raise UserError(f"found {len(by_label)} label folder(s) with .wav files under {self.root}",
                            f"a classifier needs at least two; lay the clips out as {LAYOUT}")
        self.class_names = sorted(by_label)
        listed = {split: self._listed(name) for split, name in LISTS.items() if (self.root / name).is_file()}
        assigned = {path for paths in listed.values() for path in paths}
        given: dict[str, tuple[list[Path], torch.Tensor]] = {"train": self._labelled(
            [path for label in self.class_names for path in by_label[label] if path not in assigned])}
        given.update({split: self._labelled(paths) for split, paths in listed.items()})
        return {split: (self.features_of(paths), labels) for split, (paths, labels) in
                self.hold_out_missing(given).items()}

    def _listed(self, name: str) -> list[Path]:
        paths = []
        for line, text in enumerate((self.root / name).read_text().splitlines(), start=1):
            if not text.strip():
                continue
            path = self.root / text.strip()
            if not path.is_file() or path.parent.name not in self.class_names:
                raise UserError(f"{self.root / name} line {line}: '{text.strip()}' is not a clip under a label "
                                "folder", f"list paths relative to {self.root}, like yes/0a7c2a8d_nohash_0.wav")
            paths.append(path)
        return paths

    def _labelled(self, paths: list[Path]) -> tuple[list[Path], torch.Tensor]:
        ids = {name: index for index, name in enumerate(self.class_names)}
        return paths, torch.tensor([ids[path.parent.name] for path in paths], dtype=torch.int64)


def wav_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() == ".wav" and path.is_file())
