"""Audio: WAV decoding of every PCM width, resampling, log-mel features, SpecAugment, the folder and
transcript layouts, CTC decoding, and the errors they promise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.data.audio_folder import AudioFolderDataModule
from dltrain.data.spectrogram import LogMelSpectrogram, mel_filterbank, spec_augment
from dltrain.data.transcribed_audio import TranscribedAudioDataModule
from dltrain.data.wav import read_wav
from dltrain.decoding import greedy_decode
from dltrain.errors import UserError
from tests.fabricate import write_wav


def _tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)


@pytest.mark.parametrize("width, channels", [(1, 1), (2, 1), (2, 2), (3, 1), (4, 2)])
def test_every_pcm_width_decodes_to_the_same_signal(tmp_path: Path, width: int, channels: int):
    signal = _tone(300, 0.1, 8000)
    decoded = read_wav(write_wav(tmp_path / "a.wav", signal, 8000, width, channels), 8000)
    assert decoded.dtype == np.float32 and len(decoded) == len(signal)
    assert np.abs(decoded - signal).max() < (0.01 if width == 1 else 1e-4)


def test_resampling_keeps_pitch_and_duration(tmp_path: Path):
    path = write_wav(tmp_path / "a.wav", _tone(440, 1.0, 22050), 22050)
    samples = read_wav(path, 16000)
    assert len(samples) == 16000
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) <= 1


def test_unreadable_wav_is_a_user_error(tmp_path: Path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    with pytest.raises(UserError, match="cannot read .*broken.wav as a PCM WAV file"):
        read_wav(path, 16000)


def test_log_mel_puts_a_tone_in_its_mel_band():
    filters = mel_filterbank(257, 40, 16000)
    assert filters.shape == (257, 40) and float(filters.max()) <= 1.0
    peaks = filters.argmax(dim=0)
    assert bool((peaks[1:] >= peaks[:-1]).all())
    spectrogram = LogMelSpectrogram(16000, n_mels=40, window_ms=25, hop_ms=10)
    low, high = (spectrogram(torch.from_numpy(_tone(f, 1.0, 16000)).float()[None]) for f in (300, 3000))
    assert low.shape == (1, spectrogram.frames(16000), 40) == (1, 101, 40)
    assert int(low[0].mean(0).argmax()) < int(high[0].mean(0).argmax())
    frequency_of_peak = 16000 / 2 * int(filters[:, int(high[0].mean(0).argmax())].argmax()) / 256
    assert abs(frequency_of_peak - 3000) < 300


def test_spec_augment_masks_bands_of_bounded_width():
    features = torch.ones(8, 1, 50, 20)
    masked = spec_augment(features, time_masks=1, time_width=5, freq_masks=1, freq_width=3,
                          generator=torch.Generator().manual_seed(0))
    for example in masked[:, 0]:
        silent_frames = int((example == 0).all(dim=1).sum())
        silent_mels = int((example == 0).all(dim=0).sum())
        assert silent_frames <= 5 and silent_mels <= 3
    assert float(masked.mean()) < 1.0 and torch.equal(spec_augment(features), features)


def _tone_folder(root: Path, per_label: int = 10) -> Path:
    for label, frequency in (("low", 300), ("mid", 1200), ("high", 3500)):
        for index in range(per_label):
            write_wav(root / label / f"{label}_{index}.wav", _tone(frequency * (1 + index / 50), 0.4, 8000), 8000)
    write_wav(root / "_background_noise_" / "noise.wav", np.random.default_rng(0).normal(0, 0.1, 8000), 8000)
    return root


def test_audio_folder_follows_the_speech_commands_lists(tmp_path: Path):
    root = _tone_folder(tmp_path / "clips")
    (root / "validation_list.txt").write_text("low/low_0.wav\nmid/mid_0.wav\nhigh/high_0.wav\n")
    (root / "testing_list.txt").write_text("low/low_1.wav\nlow/low_2.wav\nmid/mid_1.wav\nhigh/high_1.wav\n")
    data = AudioFolderDataModule(str(root), sample_rate=8000, duration=0.5, batch_size=4, seed=0)
    data.setup()
    assert data.class_names == ["high", "low", "mid"]
    assert [data.split_size(split) for split in ("train", "val", "test")] == [23, 3, 4]
    assert data.sizes == {"in_channels": 1, "input_size": [51, 40], "num_classes": 3}
    assert sorted(data.splits["test"][1].tolist()) == [0, 1, 1, 2]
    train = data.splits["train"][0]
    assert abs(float(train.mean())) < 1e-4 and abs(float(train.std()) - 1) < 0.05


def test_audio_folder_errors_name_the_problem(tmp_path: Path):
    root = _tone_folder(tmp_path / "clips")
    (root / "testing_list.txt").write_text("low/missing.wav\n")
    with pytest.raises(UserError, match="testing_list.txt line 1: 'low/missing.wav' is not a clip"):
        AudioFolderDataModule(str(root)).setup()
    with pytest.raises(UserError, match="no such directory"):
        AudioFolderDataModule(str(tmp_path / "nowhere")).setup()
    with pytest.raises(UserError, match="data.spec_augment=.* is invalid"):
        AudioFolderDataModule(str(root), spec_augment={"time_mask": 2})
    (root / "testing_list.txt").unlink()
    (root / "mid" / "mid_3.wav").write_bytes(b"not a wav at all")
    with pytest.raises(UserError, match="mid_3.wav as a PCM WAV file"):
        AudioFolderDataModule(str(root), sample_rate=8000).setup()


def _transcribed(root: Path, count: int = 12, seconds: float = 0.3) -> Path:
    rows = ["file,text"]
    for index in range(count):
        write_wav(root / f"{index}.wav", _tone(200 + 50 * index, seconds, 8000), 8000)
        rows.append(f"{index}.wav,Go {index % 3}")
    (root / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return root


def test_transcripts_become_character_ids_with_blank_first(tmp_path: Path):
    data = TranscribedAudioDataModule(str(_transcribed(tmp_path)), sample_rate=8000, duration=0.5, batch_size=4,
                                      val_fraction=0.2, test_fraction=0.2, seed=0)
    data.setup()
    assert data.class_names == ["<blank>", " ", "0", "1", "2", "g", "o"]
    assert [data.split_size(split) for split in ("train", "val", "test")] == [8, 2, 2]
    targets = data.splits["train"][1]
    assert targets.shape[1] == 4 and set(targets[:, :3].flatten().tolist()) == {1, 5, 6}
    assert data.spec["num_classes"] == 7


def test_transcript_errors(tmp_path: Path):
    root = _transcribed(tmp_path / "a")
    with pytest.raises(UserError, match="lasts 0.30 s, longer than data.duration=0.2"):
        TranscribedAudioDataModule(str(root), sample_rate=8000, duration=0.2).setup()
    (root / "transcripts.csv").write_text("path,text\n0.wav,go\n")
    with pytest.raises(UserError, match="has no column 'file'"):
        TranscribedAudioDataModule(str(root), sample_rate=8000).setup()
    (root / "transcripts.csv").write_text("file,text\n0.wav,go\n9.wav,go\n99.wav,go\n")
    with pytest.raises(UserError, match="line 4 names a missing file '99.wav'"):
        TranscribedAudioDataModule(str(root), sample_rate=8000).setup()
    with pytest.raises(UserError, match="no transcripts file"):
        TranscribedAudioDataModule(str(tmp_path), sample_rate=8000).setup()


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    path = torch.tensor([[0, 3, 3, 0, 3, 1, 1, 0, 0, 2]])
    logits = torch.nn.functional.one_hot(path, 4).float()
    assert greedy_decode(logits) == [[3, 3, 1, 2]]
