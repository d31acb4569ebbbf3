"""Signals as arrays: read from NumPy files, and laid out as (examples, channels, steps) from rows of numbers.

No Lightning here: predict reads new signals with it from an exported model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dltrain.errors import UserError

LAYOUTS = ("interleaved", "blocked")
ARRAY_SUFFIXES = (".npz", ".npy")


def signals_from_rows(values: torch.Tensor, channels: int, layout: str) -> torch.Tensor:
    """Rows of C*T numbers as (N, C, T): `interleaved` rows hold every channel of step 0, then of step 1, ... (how
    a sensor logs); `blocked` rows hold all steps of channel 0, then of channel 1, ..."""
    count, width = values.shape
    if width % channels:
        raise UserError(f"rows of {width} values cannot hold data.channels={channels} channels of equal length",
                        f"pass a number of channels that divides {width}, or list the columns in "
                        "data.feature_columns=[...]")
    steps = width // channels
    if layout == "interleaved":
        return values.reshape(count, steps, channels).transpose(1, 2).contiguous()
    return values.reshape(count, channels, steps)


def position_names(columns: list[str], channels: int, layout: str) -> list[str]:
    """The column of each value of a (C, T) signal, flattened: which cell a gap in it came from."""
    index = torch.arange(len(columns)).reshape(1, -1).float()
    order = signals_from_rows(index, channels, layout).flatten().long().tolist()
    return [columns[position] for position in order]


def read_array(path: Path, key: str | None, what: str) -> np.ndarray:
    """The array `key` of an .npz file, or an .npy file's array; never unpickling (a data file is untrusted)."""
    if not path.is_file():
        raise UserError(f"{what}: no such file '{path}'", "pass an .npz (arrays x and y), .npy or .csv file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise UserError(f"cannot read {path}: {str(error).splitlines()[0]}",
                        "save plain numeric arrays with numpy.savez or numpy.save") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if key not in loaded.files:
            raise UserError(f"{path} has no array '{key}'", f"its arrays are: {', '.join(loaded.files)}; name the "
                            "inputs with data.input_key= and the labels with data.label_column=")
        return loaded[key]


def signals_from_array(array: np.ndarray, path: Path) -> torch.Tensor:
    """(N, T) or (N, C, T) numbers as a float (N, C, T) tensor, NaN kept for the missing-value policy."""
    if array.dtype.kind not in "biuf" or array.ndim not in (2, 3):
        raise UserError(f"{path} holds an array of {array.dtype} with shape {list(array.shape)}, not signals",
                        "store the signals as numbers shaped (examples, steps) or (examples, channels, steps)")
    signals = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if torch.isinf(signals).any():
        raise UserError(f"{path} holds infinite values", "replace them: infinity would make every loss infinite")
    return signals.unsqueeze(1) if signals.dim() == 2 else signals
