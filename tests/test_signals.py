"""data=signals and model=cnn1d: rows and arrays read as (channels, steps), standardized per channel, augmented on
the device; a 1-D CNN finding a pattern wherever it sits, where an MLP on the same rows cannot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.data.signal_arrays import position_names, signals_from_rows
from dltrain.data.signal_augment import SignalAugment, signal_augment
from dltrain.data.signals import SignalsDataModule
from dltrain.errors import UserError
from dltrain.models.cnn1d import CNN1d
from dltrain.models.recurrent import RecurrentNet
from tests.fabricate import bump_signals, write_signal_rows


@pytest.mark.slow
def test_a_1d_cnn_finds_patterns_an_mlp_on_the_same_rows_misses(dltrain, tmp_path: Path):
    signals, labels = bump_signals(800)
    write_signal_rows(tmp_path / "bumps.csv", signals, labels, label_column="shape")
    accuracy = {}
    for model in ("cnn1d", "mlp"):
        result = dltrain("train", f"model={model}", "data=signals", "data.path=bumps.csv", "data.label_column=shape",
                         "trainer.max_epochs=20", f"hydra.run.dir={model}")
        assert result.returncode == 0, result.stderr[-3000:]
        accuracy[model] = json.loads((tmp_path / model / "metrics.json").read_text())["test/acc"]
    # Measured: 1-D CNN 0.96, MLP 0.77 (chance 0.25).
    assert accuracy["cnn1d"] >= 0.85 and accuracy["cnn1d"] - accuracy["mlp"] >= 0.1, accuracy

    new, _ = bump_signals(20, seed=9)
    write_signal_rows(tmp_path / "new.csv", new, np.zeros(20, dtype=int), label_column="unused")
    np.savez(tmp_path / "new.npz", x=new[:, None, :])
    assert dltrain("export", "run=cnn1d", "format=onnx").returncode == 0
    answers = []
    for source, given in (("run=cnn1d", "new.csv"), ("run=cnn1d", "new.npz"), ("model=cnn1d/export/model.onnx",
                                                                               "new.csv")):
        result = dltrain("predict", source, f"input={given}", "output=out.csv")
        assert result.returncode == 0, result.stderr[-3000:]
        with (tmp_path / "out.csv").open() as handle:
            answers.append([row["label"] for row in csv.DictReader(handle)])
    assert answers[0] == answers[1] == answers[2] and len(answers[0]) == 20


@pytest.mark.slow
def test_recurrent_models_regress_from_multichannel_arrays(dltrain, tmp_path: Path):
    """Where the peak of channel 0 sits, from (N, 2, T) arrays whose second channel is noise: a GRU reads the
    signals as T steps of 2 values."""
    rng = np.random.default_rng(1)
    count, steps = 600, 32
    centre = rng.uniform(4, 28, count)
    peak = np.exp(-0.5 * ((np.arange(steps)[None, :] - centre[:, None]) / 1.5) ** 2)
    arrays = np.stack([peak + rng.normal(0, 0.1, (count, steps)), rng.normal(0, 1, (count, steps))], axis=1)
    np.savez(tmp_path / "peaks.npz", signals=arrays.astype(np.float32), y=centre)
    result = dltrain("train", "task=regression", "model=gru", "data=signals", "data.path=peaks.npz",
                     "data.input_key=signals", "trainer.max_epochs=15", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "signals of 2 channels x 32 steps, 1 numeric target" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/r2"] >= 0.9, metrics


def test_rows_hold_channels_interleaved_or_blocked():
    row = torch.tensor([[0.0, 10, 1, 11, 2, 12]])
    torch.testing.assert_close(signals_from_rows(row, 2, "interleaved"), torch.tensor([[[0.0, 1, 2], [10, 11, 12]]]))
    torch.testing.assert_close(signals_from_rows(row, 2, "blocked"), torch.tensor([[[0.0, 10, 1], [11, 2, 12]]]))
    assert position_names(["a0", "b0", "a1", "b1"], 2, "interleaved") == ["a0", "a1", "b0", "b1"]
    with pytest.raises(UserError, match="cannot hold data.channels=4"):
        signals_from_rows(row, 4, "interleaved")


def test_signals_are_standardized_per_channel_on_the_train_split(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = np.stack([rng.normal(5, 2, (200, 16)), rng.normal(-100, 30, (200, 16))], axis=1).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=arrays, y=np.arange(200) % 2)
    data = SignalsDataModule(path=str(tmp_path / "s.npz"))
    data.setup()
    assert data.spec == {"in_channels": 2, "input_size": [16], "num_classes": 2, "input_kind": "signals"}
    train = data.splits["train"][0]
    torch.testing.assert_close(train.mean(dim=(0, 2)), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(train.std(dim=(0, 2)), torch.ones(2), atol=1e-4, rtol=0)
    assert data.mean.tolist() == pytest.approx([5, -100], rel=0.05)


def test_npy_signals_take_their_labels_from_another_file(tmp_path: Path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(40, 12)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.array(["calm", "storm"] * 20))
    with pytest.raises(UserError, match="holds the signals only"):
        SignalsDataModule(path=str(tmp_path / "x.npy")).setup()
    data = SignalsDataModule(path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))
    data.setup()
    assert data.class_names == ["calm", "storm"] and data.spec["input_size"] == [12]


def test_missing_values_are_refused_dropped_or_filled_with_train_means(tmp_path: Path):
    signals, labels = bump_signals(60, steps=8)
    write_signal_rows(tmp_path / "s.csv", signals, labels)
    lines = (tmp_path / "s.csv").read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = ""
    lines[5] = ",".join(cells)
    lines[9] = lines[9].rsplit(",", 1)[0] + ","
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"s.csv line 6, column 't3' has no value \(2 missing in all\)"):
        SignalsDataModule(path=str(tmp_path / "s.csv"), label_column="label").setup()
    dropped = SignalsDataModule(path=str(tmp_path / "s.csv"), label_column="label", missing="drop")
    dropped.setup()
    assert sum(dropped.split_size(split) for split in ("train", "val", "test")) == 58
    filled = SignalsDataModule(path=str(tmp_path / "s.csv"), label_column="label", missing="mean")
    filled.setup()
    assert sum(filled.split_size(split) for split in ("train", "val", "test")) == 59  # the unlabelled one is out
    assert not any(inputs.isnan().any() for inputs, _ in filled.splits.values())
    assert filled.fill.shape == (8,) and not filled.fill.isnan().any()


def test_augmentations_roll_scale_and_add_noise_per_signal():
    torch.manual_seed(0)
    signals = torch.arange(20.0).repeat(6, 2, 1)
    rolled = SignalAugment(shift=0.5)(signals)
    for example in rolled:
        assert sorted(example[0].tolist()) == list(range(20))  # nothing invented, nothing lost
        torch.testing.assert_close(example[0], example[1])  # the channels of a signal move together
    assert len({tuple(example[0].tolist()) for example in rolled}) > 1
    scaled = SignalAugment(scale=0.2)(signals)
    factors = scaled[:, :, 1:] / signals[:, :, 1:]
    assert ((factors >= 0.8) & (factors <= 1.2)).all() and factors.std() > 0
    assert (SignalAugment(noise=0.1)(signals) - signals).std().item() == pytest.approx(0.1, rel=0.2)
    assert not signal_augment({"shift": 0, "scale": 0, "noise": 0})
    with pytest.raises(UserError, match="data.augment.shift=2 is invalid"):
        signal_augment({"shift": 2})
    with pytest.raises(UserError, match="data.augment.rotation is not an augmentation of signals"):
        signal_augment({"rotation": 10})


def test_recurrent_models_read_signals_as_steps_of_channel_values():
    torch.manual_seed(0)
    signals = torch.randn(3, 2, 10)
    reading_signals = RecurrentNet(4, in_channels=2, input_size=[10], cell="gru", input_kind="signals")
    reading_sequences = RecurrentNet(4, in_channels=1, input_size=[10, 2], cell="gru")
    reading_sequences.load_state_dict(reading_signals.state_dict())
    torch.testing.assert_close(reading_signals(signals), reading_sequences(signals.transpose(1, 2)))


def test_cnn1d_reads_signals_of_any_length():
    model = CNN1d(3, in_channels=2, input_size=[5])
    assert model(torch.randn(4, 2, 5)).shape == (4, 3)
    assert model(torch.randn(4, 2, 300)).shape == (4, 3)


def test_predict_fills_a_gap_of_interleaved_channels_with_its_own_train_mean(tmp_path: Path):
    """The saved fill is laid out as the signals are (channels, steps), not as the CSV's columns."""
    from dltrain.predict_inputs import read_inputs

    (tmp_path / "new.csv").write_text("a0,b0,a1,b1\n1,,3,4\n")
    state = {"feature_columns": ["a0", "b0", "a1", "b1"], "channels": 2, "channel_layout": "interleaved",
             "mean": [0.0, 0.0], "std": [1.0, 1.0], "fill": [10.0, 11.0, 20.0, 21.0]}
    names, signals = read_inputs("signals", tmp_path / "new.csv", {}, state, {"in_channels": 2, "input_size": [2]})
    assert names == ["new.csv:2"]
    torch.testing.assert_close(signals, torch.tensor([[[1.0, 3.0], [20.0, 4.0]]]))
    with pytest.raises(UserError, match="input new.csv:2 has a missing value"):
        read_inputs("signals", tmp_path / "new.csv", {}, {**state, "fill": None}, {"in_channels": 2, "input_size": [2]})
