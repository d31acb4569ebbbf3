"""Clips with their transcripts, `root/*.wav` + `root/transcripts.csv`: speech-to-text data for CTC training."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from dltrain.data.audio import AudioDataModule
from dltrain.errors import UserError, suggestion

BLANK = "<blank>"


class TranscribedAudioDataModule(AudioDataModule):
    """`transcripts` is a CSV file in root with columns `file` (a WAV path relative to root) and `text`.

    Targets are character ids: 0 is CTC's blank (and the padding of shorter transcripts), 1.. the characters
    of the transcripts, sorted; `class_names` is that alphabet, saved in every checkpoint so decoding maps ids
    back to the same characters. The clips are split at random by `val_fraction`/`test_fraction` from `seed`.
    Clips are padded to `duration` seconds, never cut: a longer clip is an error naming it.
    """

    cut_long_clips = False

    def __init__(self, root: str, transcripts: str = "transcripts.csv", lowercase: bool = True,
                 **options) -> None:
        super().__init__(root, **options)
        self.transcripts, self.lowercase = transcripts, lowercase

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        paths, texts = self._read_transcripts()
        if not self.class_names:
            self.class_names = [BLANK, *sorted(set("".join(texts)))]
        ids = {character: index for index, character in enumerate(self.class_names)}
        unknown = sorted(set("".join(texts)) - set(ids))
        if unknown:
            raise UserError(f"the transcripts use characters the model was not trained on: {''.join(unknown)!r}",
                            "evaluate on transcripts written with the training alphabet")
        targets = torch.zeros(len(texts), max(len(text) for text in texts), dtype=torch.int64)
        for row, text in enumerate(texts):
            targets[row, : len(text)] = torch.tensor([ids[character] for character in text])
        features = self.features_of(paths)
        frames = features.shape[2]
        longest = int((targets != 0).sum(dim=1).max())
        if longest > frames:
            raise UserError(f"a transcript of {longest} characters is longer than the {frames} feature frames of a "
                            "clip: CTC cannot align it", "lower data.features.hop_ms or raise data.duration")
        return self._random_split(features, targets)

    def _read_transcripts(self) -> tuple[list[Path], list[str]]:
        listing = self.root / self.transcripts
        if not listing.is_file():
            raise UserError(f"no transcripts file {listing}",
                            "put a CSV file with columns file,text (WAV paths relative to data.root) there, or set "
                            "data.transcripts=NAME")
        paths, texts = [], []
        with open(listing, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for column in ("file", "text"):
                if column not in (reader.fieldnames or []):
                    hint = suggestion(column, list(reader.fieldnames or []))
                    raise UserError(f"{listing} has no column '{column}'",
                                    f"{hint + ' ' if hint else ''}the header must name the columns file,text")
            for row in reader:
                text = (row["text"] or "").strip()
                text = text.lower() if self.lowercase else text
                path = self.root / (row["file"] or "").strip()
                if not text or not path.is_file():
                    problem = "has an empty text" if not text else f"names a missing file '{row['file']}'"
                    raise UserError(f"{listing} line {reader.line_num} {problem}",
                                    "give every row an existing WAV file (relative to data.root) and its text")
                paths.append(path)
                texts.append(text)
        if len(paths) < 3:
            raise UserError(f"{listing} lists {len(paths)} clip(s)", "give at least 3 for train, val and test")
        return paths, texts

    def _random_split(self, features: torch.Tensor, targets: torch.Tensor) -> dict[str, tuple]:
        count = len(targets)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(self.seed))
        val = max(1, round(count * self.val_fraction))
        test = max(1, round(count * self.test_fraction))
        if val + test >= count:
            raise UserError(f"data.val_fraction + data.test_fraction leave no training clips out of {count}",
                            "lower them or add clips")
        parts = {"val": order[:val], "test": order[val : val + test], "train": order[val + test :]}
        return {split: (features[parts[split]], targets[parts[split]]) for split in ("train", "val", "test")}
