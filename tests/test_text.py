"""Text data: file formats, the train-only vocabulary, saved state, length batching, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dltrain.data.text import LengthBatches, TextDataModule
from dltrain.data.text_files import read_records, read_texts
from dltrain.data.vocabulary import Vocabulary
from dltrain.errors import UserError
from tests.fabricate import topic_texts, write_texts


def test_vocabulary_ranks_by_frequency_and_maps_the_rest_to_unk():
    vocabulary = Vocabulary.build(["The cat sat.", "the dog sat", "a bird"], min_freq=1, max_size=5)
    assert vocabulary.tokens == ["<pad>", "<unk>", "sat", "the", "."]
    assert vocabulary.encode(["The bird sat!", "sat"], max_length=10).tolist() == [[3, 1, 2, 1], [2, 0, 0, 0]]
    assert vocabulary.encode(["the the the the"], max_length=2).tolist() == [[3, 3]]
    frequent = Vocabulary.build(["b b a c c c"], min_freq=2)
    assert frequent.tokens == ["<pad>", "<unk>", "c", "b"]


def test_character_tokenizer_and_case():
    vocabulary = Vocabulary.build(["Ab a"], tokenizer="char", lowercase=False)
    assert vocabulary.split("Ab a") == ["A", "b", " ", "a"]
    assert Vocabulary.build(["Ab"], tokenizer="char").split("Ab") == ["a", "b"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_every_format_reads_the_same_records(tmp_path: Path, suffix: str):
    rows = [("Great film, really.", "pos"), ('He said "no", twice', "neg")]
    path = write_texts(tmp_path / f"reviews{suffix}", rows, "review", "sentiment")
    assert [(text, label) for _, text, label in read_records(path, "review", "sentiment")] == rows


@pytest.mark.parametrize(("suffix", "content", "line"), [
    (".csv", "text,label\nfine,pos\nTrès bon,nég\n", 3),
    (".jsonl", '{"text": "fine", "label": "pos"}\n{"text": "Très bon\u2028film", "label": "nég"}\n', 2),
    (".txt", "fine\nTrès bon\n", 2),
])
def test_texts_in_another_encoding_are_read_when_told_which(tmp_path: Path, suffix: str, content: str, line: int):
    """JSON Lines are split at newlines only: a text may hold U+2028, which str.splitlines takes for a line break."""
    path = tmp_path / f"avis{suffix}"
    path.write_bytes(content.encode("cp1252", errors="replace"))
    message = rf"avis{suffix} line {line} is not utf-8 text \(byte 0xe8\) .* data.encoding=cp1252"
    with pytest.raises(UserError, match=message):
        read_texts(path, "text")
    assert [text for _, text in read_texts(path, "text", "cp1252")][-1].startswith("Très bon")
    if suffix != ".txt":
        assert [label for *_, label in read_records(path, "text", "label", "cp1252")] == ["pos", "nég"]
    path.write_text(content, encoding="utf-8")
    assert len(read_texts(path, "text")) == 2


@pytest.mark.parametrize("content, suffix, message", [
    ("text,label\nfine,pos\n,neg\n", ".csv", "line 3: the text .* is empty"),
    ("txt,label\nfine,pos\n", ".csv", "no column 'text' .*did you mean 'txt'"),
    ('{"text": "fine", "label": "pos"}\n{"text": "bad" "label": 1}\n', ".jsonl", "line 2 is not valid JSON"),
    ("text,label\nfine,\n", ".csv", "line 2: the label .* is empty"),
    ("text,label\n", ".csv", "has no rows"),
    ("fine", ".docx", "unknown text file type"),
])
def test_bad_files_are_named_with_their_line(tmp_path: Path, content: str, suffix: str, message: str):
    path = tmp_path / f"texts{suffix}"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_records(path, "text", "label")


def _module(tmp_path: Path, **options) -> TextDataModule:
    options.setdefault("path", str(write_texts(tmp_path / "texts.csv", topic_texts(90))))
    module = TextDataModule(batch_size=8, seed=0, **options)
    module.setup()
    return module


def test_one_file_is_split_and_the_vocabulary_comes_from_train_only(tmp_path: Path):
    rows = topic_texts(90) + [("zebra only here", "sport")] * 3
    module = _module(tmp_path, path=str(write_texts(tmp_path / "all.csv", rows)), test_fraction=0.3)
    sizes = {split: module.split_size(split) for split in ("train", "val", "test")}
    assert sum(sizes.values()) == 93 and sizes["test"] > sizes["val"] > 0
    assert module.class_names == ["politics", "science", "sport"]
    train_ids = set(module.splits["train"][0].unique().tolist())
    words_in_train = {module.vocabulary.tokens[i] for i in train_ids}
    assert set(module.vocabulary.tokens) == words_in_train | {"<pad>", "<unk>"}
    assert module.sizes == {"in_channels": 1, "input_size": [256], "num_classes": 3,
                           "vocab_size": len(module.vocabulary)}


def test_separate_files_and_unknown_labels(tmp_path: Path):
    train = write_texts(tmp_path / "train.jsonl", topic_texts(60))
    test = write_texts(tmp_path / "test.tsv", topic_texts(12, seed=1))
    module = _module(tmp_path, path=None, train_path=str(train), test_path=str(test))
    assert module.split_size("test") == 12 and module.split_size("train") + module.split_size("val") == 60
    strange = write_texts(tmp_path / "val.csv", [("a referee and a goal", "cooking")])
    with pytest.raises(UserError, match="val.csv line 2: label 'cooking' is not one the model trains on"):
        _module(tmp_path, path=None, train_path=str(train), val_path=str(strange))
    with pytest.raises(UserError, match="data.path=FILE, or as data.train_path"):
        TextDataModule(path=str(train), train_path=str(train))


def test_saved_state_reproduces_ids_and_class_order(tmp_path: Path):
    trained = _module(tmp_path)
    other = write_texts(tmp_path / "other.csv", [("goal goal zebra", "sport"), ("vote now", "politics"),
                                                  ("atom", "science")] * 10)
    fresh = TextDataModule(path=str(other), batch_size=8, seed=0)
    fresh.load_state_dict(trained.state_dict())
    fresh.setup()
    assert fresh.class_names == trained.class_names and fresh.vocabulary.tokens == trained.vocabulary.tokens
    ids = trained.vocabulary.ids
    everything = torch.cat([inputs.flatten() for inputs, _ in fresh.splits.values()]).tolist()
    assert ids["goal"] in everything and ids["<unk>"] in everything  # "zebra" was never trained on


def test_length_batches_cover_every_example_once_and_trim_padding():
    torch.manual_seed(0)
    lengths = torch.randint(1, 50, (300,))
    inputs = (torch.arange(50)[None, :] < lengths[:, None]).long() * 7
    labels = torch.arange(300)
    bucketed = LengthBatches(inputs, labels, 16, shuffle=True, pool=50, seed=1)
    plain = LengthBatches(inputs, labels, 16, shuffle=True, pool=1, seed=1)
    for batches in (bucketed, plain):
        seen = torch.cat([batch_labels for _, batch_labels in batches])
        assert sorted(seen.tolist()) == list(range(300)) and len(list(batches)) == len(batches) == 19
        for batch_inputs, batch_labels in batches:
            assert batch_inputs.shape[1] == int(lengths[batch_labels].max())
    padding = {name: sum(int((batch == 0).sum()) for batch, _ in batches)
               for name, batches in (("bucketed", bucketed), ("plain", plain))}
    assert padding["bucketed"] * 5 < padding["plain"]
    epochs = [[labels.tolist() for _, labels in bucketed] for _ in range(3)]
    assert epochs[0] != epochs[1]  # a new order every epoch, as well bucketed every epoch:
    assert all(batch.shape[1] == int(lengths[labels].max()) for batch, labels in bucketed)
    assert sum(int((batch == 0).sum()) for batch, _ in bucketed) * 5 < padding["plain"]
