"""What every audio source shares: WAV files -> fixed-length log-mel features held in memory, normalized
with train statistics, masked (SpecAugment) per training batch on the device."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from dltrain.data.in_memory import InMemoryDataModule
from dltrain.data.spectrogram import LogMelSpectrogram, spec_augment
from dltrain.data.wav import read_clip
from dltrain.errors import UserError

CHUNK = 512  # clips turned into features at a time: bounds the memory of the waveforms


class AudioDataModule(InMemoryDataModule):
    """Clips as (N, 1, frames, n_mels) log-mel tensors: an image to a CNN, `frames` steps of `n_mels` features
    to a recurrent model. Each clip is resampled to `sample_rate` and padded with silence or cut (keeping its
    start) to `duration` seconds. `features` sets the spectrogram (n_mels, window_ms, hop_ms); `spec_augment`
    (time_masks, time_width, freq_masks, freq_width) masks training batches.
    """

    input_kind = "clips"
    # Whether a clip longer than `duration` may lose its end; not when a transcript describes all of it.
    cut_long_clips = True

    def __init__(self, root: str, sample_rate: int = 16000, duration: float = 1.0, features: dict | None = None,
                 spec_augment: dict | None = None, **split_options) -> None:
        super().__init__(**split_options)
        if sample_rate < 1000 or duration <= 0:
            raise UserError(f"data.sample_rate={sample_rate}, data.duration={duration}: out of range",
                            "use a sample rate of at least 1000 Hz and a positive duration in seconds")
        self.root = Path(root).expanduser()
        self.sample_rate, self.duration = sample_rate, duration
        try:
            self.spectrogram = LogMelSpectrogram(sample_rate, **(features or {}))
        except (TypeError, ValueError) as error:
            raise UserError(f"data.features: {error}", "set n_mels, window_ms and hop_ms to positive numbers") from None
        self.masking = {"time_masks": 0, "time_width": 0, "freq_masks": 0, "freq_width": 0}
        unknown = sorted(set(spec_augment or {}) - set(self.masking))
        if unknown or any(value < 0 for value in (spec_augment or {}).values()):
            raise UserError(f"data.spec_augment={spec_augment} is invalid",
                            f"set {', '.join(self.masking)} to whole numbers >= 0, or data.spec_augment=null")
        self.masking.update(spec_augment or {})
        self.mean = self.std = None

    @property
    def num_samples(self) -> int:
        return round(self.sample_rate * self.duration)

    def features_of(self, paths: Sequence[Path]) -> torch.Tensor:
        """Log-mel features of every file, read by a few threads and transformed a chunk at a time."""
        chunks = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for start in range(0, len(paths), CHUNK):
                clips = list(pool.map(self._fixed_length, paths[start : start + CHUNK]))
                chunks.append(self.spectrogram(torch.from_numpy(np.stack(clips))))
        return torch.cat(chunks).unsqueeze(1) if chunks else torch.empty(0, 1, *self.spec_size())

    def _fixed_length(self, path: Path) -> np.ndarray:
        return read_clip(path, self.sample_rate, self.duration, cut=self.cut_long_clips)

    def spec_size(self) -> list[int]:
        return [self.spectrogram.frames(self.num_samples), self.spectrogram.filters.shape[1]]

    def fit_transform(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Standardize each mel channel with the train split's mean and deviation."""
        train = splits["train"][0]
        self.mean, self.std = train.mean(dim=(0, 1, 2)), train.std(dim=(0, 1, 2)).clamp_min(1e-5)
        for name, (inputs, labels) in splits.items():
            splits[name] = ((inputs - self.mean) / self.std, labels)

    @property
    def sizes(self) -> dict:
        self.setup()
        return {"in_channels": 1, "input_size": self.spec_size(), "num_classes": len(self.class_names)}

    def on_after_batch_transfer(self, batch: Sequence[torch.Tensor], dataloader_idx: int) -> tuple:
        inputs, labels = batch
        if self.trainer is not None and self.trainer.training:
            inputs = spec_augment(inputs, **self.masking)
        return inputs, labels

    def state_dict(self) -> dict:
        return {**super().state_dict(), "sample_rate": self.sample_rate, "duration": self.duration,
                "cut_long_clips": self.cut_long_clips, "mean": self.mean, "std": self.std}
