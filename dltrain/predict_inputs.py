"""New inputs for a trained model, read the way its data module read the training data.

No Lightning here: predicting from an exported model needs only torch, the data readers and ONNX Runtime.
Each reader takes the file or folder given as `input=`, the run's data config, the data module's saved state
(statistics, vocabulary) and the data spec, and returns one name per input and the model's input tensor.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import torch

from dltrain.errors import UserError

Reader = Callable[[Path, dict, dict, dict], tuple[list[str], torch.Tensor]]


def read_inputs(kind: str | None, source: Path, data_config: dict, state: dict,
                spec: dict) -> tuple[list[str], torch.Tensor]:
    if kind not in READERS:
        raise UserError(f"dltrain predict cannot read new inputs for data {data_config.get('_target_')}",
                        "predict works for models trained on images, CSV rows, texts or audio clips")
    if not source.exists():
        raise UserError(f"input: no such file or folder '{source}'", f"pass the {kind} to predict, e.g. input=new/")
    names, inputs = READERS[kind](source, data_config, state, spec)
    if not names:
        raise UserError(f"found no {kind} in {source}", f"pass a file or a folder of {kind}")
    return names, inputs


def input_files(source: Path, suffixes: set[str], kind: str) -> list[Path]:
    if source.is_file():
        if source.suffix.lower() not in suffixes:
            raise UserError(f"input {source} is not one of the {kind} this model reads",
                            f"pass a file ({', '.join(sorted(suffixes))}) or a folder of them")
        return [source]
    return sorted(path for path in source.rglob("*") if path.suffix.lower() in suffixes and path.is_file())


def _images(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    from dltrain.data.image_pipeline import EXTENSIONS, UNREADABLE, ImageBatchPipeline, decode_image

    size, channels = spec["input_size"][0], spec["in_channels"]
    paths = input_files(source, EXTENSIONS, "images")
    images = []
    for path in paths:
        try:
            images.append(decode_image(path, size, channels))
        except UNREADABLE as error:
            raise UserError(f"cannot read image {path}: {error}", "remove or replace the file") from None
    if not images:
        return [], torch.empty(0)
    pipeline = ImageBatchPipeline(normalize=data_config.get("normalize"))
    return [str(path) for path in paths], pipeline(torch.stack(images), training=False)


def _rows(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    columns = state["feature_columns"]
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{source} has no column(s) {', '.join(missing)}",
                            f"the model reads the columns {', '.join(columns)}")
        names, values = [], []
        for row in reader:
            try:
                values.append([float(row[name]) for name in columns])
            except (TypeError, ValueError):
                raise UserError(f"{source} line {reader.line_num}: a feature is not a number",
                                f"fill in numbers for {', '.join(columns)}") from None
            names.append(f"{source.name}:{reader.line_num}")
    features = torch.tensor(values, dtype=torch.float32)
    mean, std = torch.as_tensor(state["mean"]), torch.as_tensor(state["std"])
    return names, (features - mean) / std


def _texts(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    from dltrain.data.text_files import read_texts
    from dltrain.data.vocabulary import Vocabulary

    texts = read_texts(source, data_config.get("text_column", "text"))
    vocabulary = Vocabulary(**state["vocabulary"])
    encoded = vocabulary.encode([text for _, text in texts], data_config.get("max_length", 256))
    return [f"{source.name}:{line}" for line, _ in texts], encoded


def _clips(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    import numpy as np

    from dltrain.data.spectrogram import LogMelSpectrogram
    from dltrain.data.wav import read_clip

    paths = input_files(source, {".wav"}, "clips")
    if not paths:
        return [], torch.empty(0)
    rate, duration = state["sample_rate"], state["duration"]
    cut = state.get("cut_long_clips", True)
    clips = np.stack([read_clip(path, rate, duration, cut=cut) for path in paths])
    features = LogMelSpectrogram(rate, **(data_config.get("features") or {}))(torch.from_numpy(clips))
    mean, std = torch.as_tensor(state["mean"]), torch.as_tensor(state["std"])
    return [str(path) for path in paths], ((features - mean) / std).unsqueeze(1)


READERS: dict[str, Reader] = {"images": _images, "rows": _rows, "texts": _texts, "clips": _clips}

