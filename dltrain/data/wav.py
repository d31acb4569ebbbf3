"""WAV files read with the standard library and resampled with scipy: no audio package needed."""

from __future__ import annotations

import wave
from math import gcd
from pathlib import Path

import numpy as np

from dltrain.errors import UserError

_SAMPLE_TYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def read_wav(path: Path, sample_rate: int) -> np.ndarray:
    """The file's samples as float32 in [-1, 1], channels averaged to mono, resampled to `sample_rate`.

    Reads uncompressed PCM WAV (8, 16, 24 or 32 bit), the format of Speech Commands and of most recorders'
    exports; anything else is a user error naming the file.
    """
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError, OSError) as error:
        raise UserError(f"cannot read {path} as a PCM WAV file: {error}",
                        "convert it to 16-bit PCM WAV, e.g. ffmpeg -i in.x -acodec pcm_s16le out.wav") from None
    samples = _decode(frames, width).reshape(-1, channels).mean(axis=1)
    return resample(samples, rate, sample_rate)


def read_clip(path: Path, sample_rate: int, duration: float, cut: bool = True) -> np.ndarray:
    """`duration` seconds of the file: padded with silence, or cut keeping the start (`cut=False`: an error)."""
    count = round(sample_rate * duration)
    samples = read_wav(path, sample_rate)
    if len(samples) > count and not cut:
        raise UserError(f"{path} lasts {len(samples) / sample_rate:.2f} s, longer than data.duration={duration:g}",
                        "raise data.duration to the longest clip's length")
    samples = samples[:count]
    return np.pad(samples, (0, count - len(samples)))


def _decode(frames: bytes, width: int) -> np.ndarray:
    if width == 3:  # 24-bit: widen each little-endian triple to int32
        triples = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
        values = (triples[:, 0].astype(np.int32) | triples[:, 1].astype(np.int32) << 8
                  | triples[:, 2].astype(np.int8).astype(np.int32) << 16)
        return (values / 2.0**23).astype(np.float32)
    values = np.frombuffer(frames, dtype=_SAMPLE_TYPES[width]).astype(np.float32)
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        return (values - 128.0) / 128.0
    return values / float(2 ** (8 * width - 1))


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling with an anti-aliasing filter (scipy.signal.resample_poly)."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)

