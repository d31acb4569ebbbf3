"""New inputs for a trained model, read the way its data module read the training data.

No Lightning here: predicting from an exported model needs only torch, the data readers and ONNX Runtime.
Each reader takes the file or folder given as `input=`, the run's data config, the data module's saved state
(statistics, vocabulary) and the data spec, and returns one name per input and the model's input tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from dltrain.errors import UserError

Reader = Callable[[Path, dict, dict, dict], tuple[list[str], torch.Tensor]]


def read_inputs(kind: str | None, source: Path, data_config: dict, state: dict,
                spec: dict) -> tuple[list[str], torch.Tensor]:
    if kind not in READERS:
        raise UserError(f"dltrain predict cannot read new inputs for data {data_config.get('_target_')}",
                        "predict works for models trained on images, CSV rows, signals, texts or audio clips")
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


def _csv_features(source: Path, data_config: dict, state: dict) -> tuple[list[str], torch.Tensor]:
    """The columns the model was trained on, from each row of a CSV file (other columns, such as the label, are
    ignored), categories encoded as the run's were (see table_columns), NaN where a value is missing."""
    from dltrain.data.csv_table import read_csv_table
    from dltrain.data.table_columns import encoded_features

    if source.is_dir() or source.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise UserError(f"input {source} is not a CSV file", "pass a .csv (or .tsv) file with the columns the model "
                        "was trained on")
    columns = state["feature_columns"]
    table = read_csv_table(source, example="input=new_rows.csv", encoding=data_config.get("encoding", "utf-8"))
    missing = [name for name in columns if name not in table.header]
    if missing:
        raise UserError(f"{source} has no column(s) {', '.join(missing)}",
                        f"the model reads the columns {', '.join(columns)}")
    values, _ = encoded_features(table, columns, state.get("categories") or {}, lambda column: "fix the cell")
    return [f"{source.name}:{line}" for line in table.lines], values


def _filled(values: torch.Tensor, state: dict, names: list[str], source: Path) -> torch.Tensor:
    """Missing values (NaN) as the run filled its own (data.missing=mean: the train split's mean of each value, saved
    in the same layout as `values`); refused, naming the input, where the run filled nothing."""
    gaps = values.isnan()
    if not gaps.any():
        return values
    if state.get("fill") is None:
        raise UserError(f"{source}: input {names[int(gaps.flatten(1).any(dim=1).nonzero()[0, 0])]} has a missing "
                        "value", "fill it in: only a run trained with data.missing=mean fills gaps in new inputs")
    return torch.where(gaps, torch.as_tensor(state["fill"]).view(values.shape[1:]), values)


def _rows(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    names, features = _csv_features(source, data_config, state)
    features = _filled(features, state, names, source)
    mean, std = torch.as_tensor(state["mean"]), torch.as_tensor(state["std"])
    return names, (features - mean) / std


def _signals(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    """Signals laid out as the run's were: CSV rows of its columns, or an .npz (its `input_key` array) or .npy file
    of (N, T) or (N, C, T) numbers; standardized per channel with the train split's statistics."""
    from dltrain.data.signal_arrays import ARRAY_SUFFIXES, read_array, signals_from_array, signals_from_rows

    if source.suffix.lower() in ARRAY_SUFFIXES:
        signals = signals_from_array(read_array(source, data_config.get("input_key", "x"), "input"), source)
        names = [f"{source.name}:{index}" for index in range(len(signals))]
    else:
        names, values = _csv_features(source, data_config, state)
        signals = signals_from_rows(values, state["channels"], state["channel_layout"])
    expected = [spec["in_channels"], *spec["input_size"]]
    if list(signals.shape[1:]) != expected:
        raise UserError(f"{source} holds signals of {list(signals.shape[1:])} (channels, steps)",
                        f"the model reads signals of {expected}")
    signals = _filled(signals, state, names, source)
    mean, std = torch.as_tensor(state["mean"]), torch.as_tensor(state["std"])
    return names, (signals - mean[:, None]) / std[:, None]


def _texts(source: Path, data_config: dict, state: dict, spec: dict) -> tuple[list[str], torch.Tensor]:
    from dltrain.data.text_files import read_texts
    from dltrain.data.vocabulary import Vocabulary

    texts = read_texts(source, data_config.get("text_column", "text"), data_config.get("encoding", "utf-8"))
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


READERS: dict[str, Reader] = {"images": _images, "rows": _rows, "signals": _signals, "texts": _texts,
                               "clips": _clips}

