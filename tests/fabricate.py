"""Tiny datasets written in the real on-disk formats: MNIST idx, CIFAR python pickles, folders of PNG/JPEG.

Each class gets a bright square at its own place over noise, so a model can learn them in a few steps.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def class_images(labels: np.ndarray, channels: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 (N, channels, size, size): noise, with a square whose position and colour follow the label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (len(labels), channels, size, size), dtype=np.uint8)
    side = size // 4
    for index, label in enumerate(labels):
        row, col = divmod(int(label) % 9, 3)
        top, left = row * size // 3, col * size // 3
        images[index, int(label) % channels, top : top + side, left : left + side] = 255
    return images


def balanced_labels(count: int, classes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(count) % classes)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """The idx format: magic 0x08 (unsigned bytes) and the number of dimensions, big-endian sizes, data."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)
    return path


def write_mnist(folder: Path, train: int = 100, test: int = 40, compress: bool = False) -> Path:
    """train/t10k images and labels idx files in `folder` (28x28, 10 classes)."""
    for prefix, count, seed in (("train", train, 1), ("t10k", test, 2)):
        labels = balanced_labels(count, 10, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", class_images(labels, 1, 28, seed)[:, 0], compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return folder


def _pickle(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=2)


def write_cifar10(root: Path, per_batch: int = 30, test: int = 40) -> Path:
    """cifar-10-batches-py/ with five data batches, a test batch and batches.meta, as published."""
    folder = root / "cifar-10-batches-py"
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch})
    for name, count, seed in [*((f"data_batch_{k}", per_batch, k) for k in range(1, 6)), ("test_batch", test, 9)]:
        labels = balanced_labels(count, 10, seed)
        _pickle(folder / name, {"batch_label": name, "labels": labels.tolist(),
                                "data": class_images(labels, 3, 32, seed).reshape(count, -1),
                                "filenames": [f"{k}.png" for k in range(count)]})
    return folder


def write_cifar100(root: Path, train: int = 120, test: int = 40, classes: int = 4) -> Path:
    """cifar-100-python/ with train, test and meta; labels use the first `classes` of the 100 fine classes."""
    folder = root / "cifar-100-python"
    _pickle(folder / "meta", {"fine_label_names": [f"fine_{k}" for k in range(100)],
                              "coarse_label_names": [f"coarse_{k}" for k in range(20)]})
    for name, count, seed in (("train", train, 1), ("test", test, 2)):
        labels = balanced_labels(count, classes, seed)
        _pickle(folder / name, {"fine_labels": labels.tolist(), "coarse_labels": (labels % 20).tolist(),
                                "data": class_images(labels, 3, 32, seed).reshape(count, -1)})
    return folder


def write_image_tree(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fox"), per_class: int = 12,
                     size: int = 40, seed: int = 0) -> Path:
    """root/<class>/<n>.png|.jpg: colour images of different sizes, PNG and JPEG alternating."""
    from PIL import Image

    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        images = class_images(np.full(per_class, label), 3, size, seed + label)
        for index, pixels in enumerate(images):
            image = Image.fromarray(pixels.transpose(1, 2, 0))
            if index % 3 == 1:
                image = image.resize((size + 8, size))
            image.save(folder / (f"{index}.png" if index % 2 == 0 else f"{index}.jpg"))
    return root


TOPICS = {"sport": "goal match team coach player score league season referee stadium".split(),
          "politics": "vote election minister party law senate campaign policy debate parliament".split(),
          "science": "atom cell experiment theory energy physics molecule laboratory data research".split()}
FILLER = "the a of and to in is it that was for on with as this at by from".split()


def topic_texts(count: int, seed: int = 0, topic_share: float = 0.25) -> list[tuple[str, str]]:
    """(text, topic) pairs: 5 to 40 words, about `topic_share` of them from the topic's own words, the
    rest common filler. Separable, but only by reading the words, and of varied length."""
    import random

    rng = random.Random(seed)
    names = list(TOPICS)
    rows = []
    for index in range(count):
        topic = names[index % len(names)]
        words = [rng.choice(TOPICS[topic]) if rng.random() < topic_share else rng.choice(FILLER)
                 for _ in range(rng.randint(5, 40))]
        rows.append((" ".join(words).capitalize() + ".", topic))
    return rows


def write_texts(path: Path, rows: list[tuple[str, str]], text_column: str = "text",
                label_column: str = "label") -> Path:
    """rows as CSV, TSV or JSON Lines, by the file's suffix."""
    import csv
    import json

    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({text_column: text, label_column: label}) + "\n" for text, label in rows))
        return path
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow([text_column, label_column])
        writer.writerows(rows)
    return path


def write_wav(path: Path, samples: np.ndarray, sample_rate: int, width: int = 2, channels: int = 1) -> Path:
    """PCM WAV of `width` bytes per sample (1, 2, 3 or 4); samples in [-1, 1], copied to every channel."""
    import wave

    scale = 2 ** (8 * width - 1) - 1
    values = np.round(np.clip(samples, -1.0, 1.0) * scale).astype(np.int64)
    values = np.repeat(values[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        data = (values + 128).astype(np.uint8).tobytes()
    else:
        data = b"".join(int(value).to_bytes(width, "little", signed=True) for value in values) if width == 3 \
            else values.astype(f"<i{width}").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(sample_rate)
        handle.writeframes(data)
    return path


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us+f2", "en-gb+f4", "en-us+m3", "en-gb-x-gbclan")


def espeak(path: Path, text: str, voice: str, speed: int, pitch: int) -> Path:
    """`text` spoken by Debian's espeak-ng into a 22,050 Hz 16-bit WAV file."""
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                   check=True, capture_output=True)
    return path


def spoken_words(root: Path, words: tuple[str, ...] = DIGIT_WORDS, speeds: tuple[int, ...] = (130, 175),
                 pitches: tuple[int, ...] = (35, 65)) -> Path:
    """root/<word>/<voice>_<speed>_<pitch>.wav for every voice, speed and pitch: the Speech Commands layout."""
    for word in words:
        for voice in VOICES:
            for speed in speeds:
                for pitch in pitches:
                    espeak(root / word / f"{voice}_{speed}_{pitch}.wav", word, voice, speed, pitch)
    return root


def spoken_digit_strings(root: Path, count: int = 240, seed: int = 0) -> Path:
    """root/<n>.wav: 2 to 4 random digits spoken by varied voices, speeds and pitches, and root/transcripts.csv
    (file,text) with the digits written as `3 1 4`."""
    import random

    rng = random.Random(seed)
    rows = ["file,text"]
    for index in range(count):
        digits = [rng.randrange(10) for _ in range(rng.randint(2, 4))]
        espeak(root / f"{index}.wav", " ".join(DIGIT_WORDS[d] for d in digits), rng.choice(VOICES),
               rng.randint(140, 200), rng.randint(30, 70))
        rows.append(f"{index}.wav,{' '.join(map(str, digits))}")
    (root / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return root


def bump_signals(count: int, steps: int = 64, noise: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy signals (count x steps) of four classes set by the shape of a pattern (one peak, or two peaks close
    together) and its position (left or right half), its place within the half, width and height random: the answer
    is known, and a model must find a pattern wherever it sits."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 4
    double, right = labels % 2 == 1, labels >= 2
    centre = rng.uniform(0.12, 0.38, count) * steps + right * steps / 2
    width = rng.uniform(0.015, 0.025, count) * steps
    height = rng.uniform(0.8, 1.2, count)
    time = np.arange(steps)[None, :]
    apart = np.where(double, 2.5 * width, 0.0)[:, None]
    peaks = np.exp(-0.5 * ((time - centre[:, None] - apart) / width[:, None]) ** 2)
    peaks += np.where(double[:, None], np.exp(-0.5 * ((time - centre[:, None] + apart) / width[:, None]) ** 2), 0)
    signals = height[:, None] * np.minimum(peaks, 1) + rng.normal(0, noise, (count, steps))
    return signals.astype(np.float32), labels


def write_signal_rows(path: Path, signals: np.ndarray, labels: np.ndarray, label_column: str = "label") -> Path:
    """Signals as CSV rows: the steps t0, t1, ... then the label."""
    steps = signals.shape[1]
    lines = [",".join([*(f"t{step}" for step in range(steps)), label_column])]
    lines += [",".join([*(f"{value:.4f}" for value in row), str(label)]) for row, label in zip(signals, labels,
                                                                                             strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path
