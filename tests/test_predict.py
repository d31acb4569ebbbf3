"""dltrain predict: the same labels as eval on the test split, from the run and from the exported ONNX file
(without Lightning), and every input reader preparing inputs exactly as training did."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.data.audio_folder import AudioFolderDataModule
from dltrain.data.tabular import TabularDataModule
from dltrain.errors import UserError
from dltrain.predict_inputs import read_inputs
from tests.conftest import assert_user_error
from tests.fabricate import write_image_tree, write_wav


def _predictions(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.mark.slow
def test_predict_gives_eval_labels_from_the_run_and_from_onnx_without_lightning(dltrain, tmp_path: Path):
    write_image_tree(tmp_path / "photos" / "train", per_class=30)
    write_image_tree(tmp_path / "photos" / "test", per_class=8, seed=5)
    result = dltrain("train", "data=image_folder", "data.root=photos", "data.image_size=24", "data.batch_size=16",
                     "trainer.max_epochs=6", "callbacks=minimal", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert dltrain("eval", "run=run").returncode == 0
    accuracy = json.loads((tmp_path / "run" / "eval.json").read_text())["test/acc"]

    result = dltrain("predict", "run=run", "input=photos/test", "output=from_run.csv", "top_k=2")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _predictions(tmp_path / "from_run.csv")
    assert len(rows) == 24 and set(rows[0]) == {"input", "label", "probability", "label_2", "probability_2"}
    correct = [row["label"] == Path(row["input"]).parent.name for row in rows]
    assert sum(correct) / len(rows) == pytest.approx(accuracy, abs=1e-6)
    assert all(float(row["probability"]) >= float(row["probability_2"]) for row in rows)

    assert dltrain("export", "run=run", "format=onnx", "output=deploy").returncode == 0
    blocker = tmp_path / "no_lightning"
    for package in ("pytorch_lightning", "lightning_fabric"):
        (blocker / package).mkdir(parents=True)
        (blocker / package / "__init__.py").write_text("raise ImportError('predict from ONNX imported Lightning')\n")
    result = dltrain("predict", "model=deploy/model.onnx", "input=photos/test", "output=from_onnx.csv",
                     env={"PYTHONPATH": str(blocker)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert [row["label"] for row in _predictions(tmp_path / "from_onnx.csv")] == [row["label"] for row in rows]


def test_predict_needs_one_model_source(dltrain, tmp_path: Path):

    result = dltrain("predict", "input=x.png")
    assert_user_error(result, "give exactly one of run=DIR, ckpt=FILE or model=FILE", "dltrain predict run=")


def test_clips_are_read_as_the_training_data_read_them(tmp_path: Path):
    rate = 8000
    for label, frequency in (("low", 300), ("high", 2000)):
        for index in range(8):
            tone = 0.5 * np.sin(2 * np.pi * frequency * (1 + index / 40) * np.arange(int(0.3 * rate)) / rate)
            write_wav(tmp_path / "clips" / label / f"{index}.wav", tone, rate)
    data = AudioFolderDataModule(str(tmp_path / "clips"), sample_rate=rate, duration=0.5, seed=0,
                                 val_fraction=0.25, test_fraction=0.25)
    data.setup()
    config = {"_target_": "dltrain.data.audio_folder.AudioFolderDataModule", "features": None}
    names, inputs = read_inputs("clips", tmp_path / "clips" / "low", config, data.state_dict(), data.spec)
    expected = (data.features_of([tmp_path / "clips" / "low" / f"{i}.wav" for i in range(8)]) - data.mean) / data.std
    assert len(names) == 8 and torch.allclose(inputs, expected)
    # A transcribed clip must be heard whole, in predict as in training: one longer than `duration` is refused.
    write_wav(tmp_path / "long.wav", np.zeros(rate), rate)
    with pytest.raises(UserError, match="long.wav lasts 1.00 s, longer than data.duration=0.5"):
        read_inputs("clips", tmp_path / "long.wav", config, {**data.state_dict(), "cut_long_clips": False}, data.spec)


def test_new_rows_get_the_runs_categories_and_an_unseen_one_sets_none(tmp_path: Path, caplog):
    table = tmp_path / "cars.csv"
    table.write_text("weight;colour;fuel\n" + "\n".join(
        f"{1000 + i};{['red', 'blue'][i % 2]};{'diesel' if i % 3 else 'petrol'}" for i in range(60)) + "\n")
    data = TabularDataModule(str(table), "fuel", seed=0)
    data.setup()
    new = tmp_path / "new.csv"
    new.write_text("colour,weight\nblue,1001\ngreen,1002.5\n")
    with caplog.at_level("WARNING"):
        names, inputs = read_inputs("rows", new, {}, data.state_dict(), data.spec)
    raw = torch.tensor([[1001.0, 1.0, 0.0], [1002.5, 0.0, 0.0]])
    torch.testing.assert_close(inputs, (raw - data.mean) / data.std)
    assert "1 cell(s) hold a category the model never saw (first: colour='green')" in caplog.text


def test_rows_are_standardized_with_the_training_statistics(tmp_path: Path, iris_like_csv: Path):
    data = TabularDataModule(str(iris_like_csv), "species", seed=0)
    data.setup()
    new = tmp_path / "new.csv"
    new.write_text("colour_code,petal_width,petal_length\n3,0.5,1.4\n7,1.9,5.5\n")
    names, inputs = read_inputs("rows", new, {}, data.state_dict(), data.spec)
    raw = torch.tensor([[1.4, 0.5, 3.0], [5.5, 1.9, 7.0]])
    assert names == ["new.csv:2", "new.csv:3"]
    torch.testing.assert_close(inputs, (raw - data.mean) / data.std)
    new.write_text("petal_length\n1.0\n")
    with pytest.raises(UserError, match="has no column.*petal_width"):
        read_inputs("rows", new, {}, data.state_dict(), data.spec)
    with pytest.raises(UserError, match="cannot read new inputs for data dltrain.data.synthetic"):
        read_inputs(None, new, {"_target_": "dltrain.data.synthetic.SyntheticDataModule"}, {}, {})
