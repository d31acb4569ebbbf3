"""Log-mel spectrograms and SpecAugment masking, computed with torch alone (torchaudio does not exist for
the torch we support)."""

from __future__ import annotations

import math

import torch


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters evenly spaced on the HTK mel scale, each peaking at 1."""
    f_max = f_max or sample_rate / 2

    def to_mel(hz: float | torch.Tensor):
        return 2595.0 * (torch.log10(1.0 + torch.as_tensor(hz) / 700.0))

    mels = torch.linspace(float(to_mel(f_min)), float(to_mel(f_max)), n_mels + 2)
    edges = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    freqs = torch.linspace(0, sample_rate / 2, n_freqs)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class LogMelSpectrogram:
    """Waveforms (N x samples) -> log mel energies (N x frames x n_mels): a Hann-windowed STFT of `window_ms`
    every `hop_ms`, power spectrum, mel filters, log. Frames = 1 + samples // hop."""

    def __init__(self, sample_rate: int = 16000, n_mels: int = 40, window_ms: float = 25.0, hop_ms: float = 10.0,
                 f_min: float = 20.0, f_max: float | None = None) -> None:
        if n_mels < 1 or window_ms <= 0 or hop_ms <= 0:
            raise ValueError(f"n_mels={n_mels}, window_ms={window_ms}, hop_ms={hop_ms}: each must be above 0")
        self.window = round(sample_rate * window_ms / 1000)
        self.hop = round(sample_rate * hop_ms / 1000)
        self.n_fft = 2 ** math.ceil(math.log2(self.window))
        self.filters = mel_filterbank(self.n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max)

    def frames(self, samples: int) -> int:
        return 1 + samples // self.hop

    def __call__(self, waveforms: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(waveforms, self.n_fft, hop_length=self.hop, win_length=self.window,
                              window=torch.hann_window(self.window, device=waveforms.device), center=True,
                              return_complex=True)
        power = spectrum.abs().pow(2).transpose(1, 2)
        return torch.log(power @ self.filters.to(waveforms.device) + 1e-6)


def spec_augment(features: torch.Tensor, time_masks: int = 0, time_width: int = 0, freq_masks: int = 0,
                 freq_width: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """SpecAugment's masking (Park et al. 2019) for a batch (N x 1 x frames x mels): each example gets
    `time_masks` bands of up to `time_width` frames and `freq_masks` bands of up to `freq_width` mel
    channels set to zero (the mean, as features are normalized). Returns a new tensor."""
    batch, _, frames, mels = features.shape
    keep = torch.ones(batch, frames, mels, dtype=torch.bool, device=features.device)
    for count, width, size, axis in ((time_masks, time_width, frames, 1), (freq_masks, freq_width, mels, 2)):
        positions = torch.arange(size, device=features.device)
        for _ in range(count if width > 0 else 0):
            widths = torch.randint(0, width + 1, (batch, 1), generator=generator).to(features.device)
            starts = (torch.rand(batch, 1, generator=generator).to(features.device) * (size - widths + 1)).long()
            band = (positions >= starts) & (positions < starts + widths)
            keep &= ~(band[:, :, None] if axis == 1 else band[:, None, :])
    return features * keep[:, None]
