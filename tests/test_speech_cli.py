"""Speech through the CLI, on clips spoken by Debian's espeak-ng (installed by .ci/run; never downloaded):
keyword spotting on a held-out voice, every recurrent model on audio, and CTC speech to text."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from torchmetrics.text import CharErrorRate

from tests.fabricate import VOICES, spoken_digit_strings, spoken_words

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng): no speech to train on")


@pytest.fixture(scope="module")
def spoken_digits(tmp_path_factory) -> Path:
    """The ten digit words by 8 voices at 2 speeds and 2 pitches; one voice is the test set, one validation."""
    root = spoken_words(tmp_path_factory.mktemp("speech") / "words")
    for name, voice in (("testing_list.txt", VOICES[-1]), ("validation_list.txt", VOICES[-2])):
        clips = sorted(f"{path.parent.name}/{path.name}" for path in root.glob(f"*/{voice}_*.wav"))
        (root / name).write_text("\n".join(clips) + "\n")
    return root


def _metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())


def test_every_recurrent_model_trains_on_audio(dltrain, tmp_path: Path, spoken_digits: Path):
    result = dltrain("train", "-m", "model=rnn,lstm,gru", "data=audio_folder", f"data.root={spoken_digits}",
                     "debug=smoke", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert all((tmp_path / "sweep" / str(job) / "metrics.json").is_file() for job in range(3))
    # pooling: auto reads all of each clip; the run header says so
    assert len(re.findall(r"model\s+(RNN|LSTM|GRU) \(1 layer of 128, mean pooling\), ", result.stdout)) == 3


@pytest.mark.slow
def test_keyword_spotting_recognises_a_voice_it_never_heard(dltrain, tmp_path: Path, spoken_digits: Path):
    """The defaults, as a user types them: with `pooling: last` this stayed at chance (the word is followed by
    silence); `auto` pools clips by their mean."""
    result = dltrain("train", "model=lstm", "data=audio_folder", f"data.root={spoken_digits}", "trainer.max_epochs=15",
                     "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _metrics(tmp_path / "run")["test/acc"] >= 0.7  # 40 clips of an unheard voice; chance: 0.1


@pytest.mark.slow
def test_ctc_transcribes_spoken_digit_strings(dltrain, tmp_path: Path):
    spoken_digit_strings(tmp_path / "strings", count=400)
    result = dltrain("train", "experiment=spoken_digits_ctc", "data.root=strings", "trainer.max_epochs=8",
                     "hydra.run.dir=run", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = _metrics(tmp_path / "run")
    assert set(metrics) == {"test/loss", "test/cer", "test/wer"}
    assert metrics["test/cer"] < 0.5
    result = dltrain("eval", "run=run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text()) == metrics

    # predict transcribes new clips; the exported ONNX file spells exactly what the run does.
    result = dltrain("predict", "run=run", "input=strings", "output=from_run.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert dltrain("export", "run=run", "format=onnx").returncode == 0
    result = dltrain("predict", "model=run/export/model.onnx", "input=strings", "output=from_onnx.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    from_run = list(csv.DictReader((tmp_path / "from_run.csv").open()))
    assert [row["transcript"] for row in from_run] == \
        [row["transcript"] for row in csv.DictReader((tmp_path / "from_onnx.csv").open())]
    truth = {row["file"]: row["text"] for row in csv.DictReader((tmp_path / "strings" / "transcripts.csv").open())}
    assert len(from_run) == len(truth) == 400
    spoken = [truth[Path(row["input"]).name] for row in from_run]
    assert CharErrorRate()([row["transcript"] for row in from_run], spoken) < 0.5
