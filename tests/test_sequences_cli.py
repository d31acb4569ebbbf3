"""Through the CLI: recurrent models learn digits read row by row and texts from a file; eval re-encodes
texts with the vocabulary saved in the checkpoint; a model that cannot read token ids is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import only_run_dir
from tests.fabricate import topic_texts, write_texts


def _metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())


def test_every_recurrent_model_trains_on_a_text_file(dltrain, tmp_path: Path):
    write_texts(tmp_path / "reviews.csv", topic_texts(120), "review", "topic")
    result = dltrain("train", "-m", "model=rnn,lstm,gru", "data=text", "data.path=reviews.csv",
                     "data.text_column=review", "data.label_column=topic", "model.bidirectional=true",
                     "model.num_layers=2", "model.dropout=0.1", "debug=smoke", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert all((tmp_path / "sweep" / str(job) / "metrics.json").is_file() for job in range(3))


@pytest.mark.slow
def test_gru_learns_topics_eval_reuses_the_saved_vocabulary_and_export_carries_it(dltrain, tmp_path: Path):
    write_texts(tmp_path / "train.jsonl", topic_texts(450))
    write_texts(tmp_path / "test.csv", topic_texts(90, seed=1))
    result = dltrain("train", "model=gru", "data=text", "data.train_path=train.jsonl", "data.test_path=test.csv",
                     "trainer.max_epochs=8", "callbacks=minimal")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    assert _metrics(run_dir)["test/acc"] >= 0.9  # chance: 1/3
    # The train file changes after training; eval must still encode the test texts with the saved vocabulary.
    write_texts(tmp_path / "train.jsonl", [("entirely new words here", "sport"), ("more novel words", "science"),
                                           ("other fresh words", "politics")] * 20)
    result = dltrain("eval", f"run={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "eval.json").read_text()) == _metrics(run_dir)
    # Exported, the model reads texts of any length, and the vocabulary travels beside it.
    result = dltrain("export", f"run={run_dir}", "format=onnx", "output=deploy")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "deploy" / "manifest.json").read_text())
    assert manifest["input"] == {"name": "input", "shape": ["batch", "length"], "dtype": "int64", "kind": "texts"}
    assert manifest["preprocessing"]["state"]["vocabulary_file"] == "vocabulary.json"
    vocabulary = json.loads((tmp_path / "deploy" / "vocabulary.json").read_text())
    assert vocabulary["tokens"][:2] == ["<pad>", "<unk>"] and "referee" in vocabulary["tokens"]
    # New texts, one per line, get the same labels from the run and from the ONNX file.
    (tmp_path / "new.txt").write_text("The referee and the coach of the team\nA vote in the senate on the law\n"
                                      "Energy of the atom in the laboratory\n")
    for source, output in (("run=" + str(run_dir), "from_run.csv"), ("model=deploy/model.onnx", "from_onnx.csv")):
        result = dltrain("predict", source, "input=new.txt", f"output={output}")
        assert result.returncode == 0, result.stderr[-3000:]
        labels = [line.split(",")[1] for line in (tmp_path / output).read_text().splitlines()[1:]]
        assert labels == ["sport", "politics", "science"], labels


@pytest.mark.slow
def test_every_recurrent_model_reads_digits_row_by_row(dltrain, tmp_path: Path):
    result = dltrain("train", "-m", "model=rnn,lstm,gru", "data=digits_rows", "callbacks=minimal",
                     "trainer.max_epochs=20", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    rnn, lstm, gru = (_metrics(tmp_path / "sweep" / str(job))["test/acc"] for job in range(3))
    assert lstm >= 0.95 and rnn >= 0.9 and gru >= 0.9  # chance: 0.1

