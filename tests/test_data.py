"""Data modules: deterministic stratified splits, shapes and classes, user CSV handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.data.digits import DigitsDataModule
from dltrain.data.in_memory import ShuffledIndices, TensorBatches
from dltrain.data.synthetic import SyntheticDataModule
from dltrain.data.tabular import TabularDataModule
from dltrain.errors import UserError


def test_digits_split_is_stratified_and_repeatable():
    first, second = DigitsDataModule(seed=3), DigitsDataModule(seed=3)
    first.setup(), second.setup()
    sizes = {name: len(labels) for name, (_, labels) in first.splits.items()}
    assert sizes == {"train": 1257, "val": 180, "test": 360}
    assert first.sizes == {"in_channels": 1, "input_size": [8, 8], "num_classes": 10}
    for name in sizes:
        assert torch.equal(first.splits[name][0], second.splits[name][0])
    test_counts = torch.bincount(first.splits["test"][1], minlength=10).float()
    all_counts = sum(torch.bincount(labels, minlength=10) for _, labels in first.splits.values()).float()
    assert (test_counts - 0.2 * all_counts).abs().max() <= 1.0
    other = DigitsDataModule(seed=4)
    other.setup()
    assert not torch.equal(first.splits["test"][1], other.splits["test"][1])
    assert float(first.splits["train"][0].max()) == 1.0 and float(first.splits["train"][0].min()) == 0.0


def test_digits_upsampling():
    data = DigitsDataModule(image_size=32)
    assert data.spec["input_size"] == [32, 32]


def test_batches_cover_every_example_once_and_reshuffle():
    inputs, labels = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    loader = TensorBatches(inputs, labels, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    first = torch.cat([batch_labels for _, batch_labels in loader])
    second = torch.cat([batch_labels for _, batch_labels in loader])
    assert sorted(first.tolist()) == list(range(10)) and not torch.equal(first, second)
    ordered = TensorBatches(inputs, labels, batch_size=4, shuffle=False)
    assert torch.cat([b for _, b in ordered]).tolist() == list(range(10))


def test_batches_shard_across_ranks():
    inputs, labels = torch.zeros(11, 1), torch.arange(11)
    shards = [torch.cat([b for _, b in TensorBatches(inputs, labels, 2, True, seed=5, rank=r, world_size=2)])
              for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert len(TensorBatches(inputs, labels, 2, True, rank=0, world_size=2)) == 3


def test_indices_for_files_follow_the_same_orders_and_resume_mid_epoch():
    """The sampler of streamed image folders: one shard per rank, left in place by Lightning under DDP (it is a
    DistributedSampler), and a checkpoint two batches into an epoch resumes with that epoch's remaining indices."""
    order = ShuffledIndices(10, batch_size=3, shuffle=True, seed=1)
    assert isinstance(order, torch.utils.data.DistributedSampler) and len(order) == 10
    first, position = list(order), {**order.position(), "batches_done": 2}
    second = list(order)
    assert sorted(first) == list(range(10)) and first != second
    resumed = ShuffledIndices(10, batch_size=3, shuffle=True, seed=1)
    resumed.resume_from(position)
    assert list(resumed) == first[6:] and list(resumed) == second
    shards = [list(ShuffledIndices(11, 2, True, seed=5, rank=rank, world_size=2)) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5 and not set(shards[0]) & set(shards[1])


def test_synthetic_shapes_and_classes():
    data = SyntheticDataModule(num_samples=200, num_classes=5, shape=[3, 8, 8])
    assert data.sizes == {"in_channels": 3, "input_size": [8, 8], "num_classes": 5}
    assert data.class_names == [f"class_{k}" for k in range(5)]


def test_tabular_maps_labels_and_standardizes_on_train_only(iris_like_csv: Path):
    data = TabularDataModule(path=str(iris_like_csv), label_column="species",
                             feature_columns=["petal_length", "petal_width"])
    data.setup()
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    assert data.sizes == {"in_channels": 1, "input_size": [2], "num_classes": 3}
    train = data.splits["train"][0]
    assert torch.allclose(train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(train.std(0), torch.ones(2), atol=1e-5)
    assert not torch.allclose(data.splits["test"][0].mean(0), torch.zeros(2), atol=1e-5)
    state = data.state_dict()
    assert state["feature_columns"] == ["petal_length", "petal_width"] and state["mean"].shape == (2,)


def test_tabular_uses_every_other_column_by_default(iris_like_csv: Path):
    data = TabularDataModule(path=str(iris_like_csv), label_column="species")
    assert data.spec["input_size"] == [3]


def test_tabular_numeric_labels_sort_as_numbers(tmp_path: Path):
    rows = "\n".join(f"{i},{[2, 10, 1][i % 3]}" for i in range(60))
    path = tmp_path / "numbers.csv"
    path.write_text("x,label\n" + rows + "\n")
    data = TabularDataModule(path=str(path), label_column="label")
    data.setup()
    assert data.class_names == ["1", "2", "10"]


@pytest.mark.parametrize(("content", "message"), [
    ("a,label\n1,x\nfoo,y\n", "line 3, column 'a': 'foo' is not a number"),
    ("a,label\n1,x\n2\n", "line 3 has 1 fields"),
    ("a,label\n", "has no data rows"),
    ("a,label\n1,x\n2,x\n", "holds a single class"),
])
def test_tabular_errors_name_the_problem(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        TabularDataModule(path=str(path), label_column="label").setup()


@pytest.mark.parametrize(("header", "row"), [
    ("a;b;label", "{a};{b};{label}"),
    ("a\tb\tlabel", "{a}\t{b}\t{label}"),
    ("a|b|label", "{a}|{b}|{label}"),
])
def test_tables_separated_otherwise_than_by_commas_read_their_decimal_commas(tmp_path: Path, header: str,
                                                                          row: str):
    """What a spreadsheet writes where the decimal mark is a comma: semicolons between cells, 1,5 for 1.5."""
    lines = [row.format(a=f"{i % 7},5", b=f"-{i},25", label="yes" if i % 2 else "no") for i in range(40)]
    path = tmp_path / "table.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    data = TabularDataModule(path=str(path), label_column="label", val_fraction=0.25, test_fraction=0.25)
    values, labels, names = data.load()
    assert data.features == ["a", "b"] and names == ["no", "yes"]
    assert values[:3].tolist() == [[0.5, -0.25], [1.5, -1.25], [2.5, -2.25]]


def test_a_table_is_read_in_its_encoding_and_a_workbook_is_refused(tmp_path: Path):
    """A byte-order mark decides (Excel's UTF-8 and UTF-16 saves); otherwise UTF-8, or data.encoding."""
    content = "size,colour\n" + "".join(f"{i},{'vert' if i % 2 else 'é'}\n" for i in range(20))
    for encoding in ("utf-8-sig", "utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(("\ufeff" if encoding == "utf-16-be" else "").encode(encoding) + content.encode(encoding))
        assert TabularDataModule(path=str(path), label_column="colour").load()[2] == ["vert", "é"]
    path = tmp_path / "windows.csv"
    path.write_bytes(content.encode("cp1252"))
    with pytest.raises(UserError, match=r"windows.csv line 2 is not utf-8 text \(byte 0xe9\) — .*data.encoding=cp1252"):
        TabularDataModule(path=str(path), label_column="colour").load()
    assert TabularDataModule(path=str(path), label_column="colour", encoding="cp1252").load()[2] == ["vert", "é"]
    with pytest.raises(UserError, match="data.encoding=klingon is not an encoding Python knows"):
        TabularDataModule(path=str(path), label_column="colour", encoding="klingon").load()
    workbook = tmp_path / "book.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(UserError, match=r"book.xlsx is a spreadsheet workbook .* Save As > CSV UTF-8"):
        TabularDataModule(path=str(workbook), label_column="colour").load()


def test_text_columns_are_categories_one_input_per_value(tmp_path: Path):
    path = tmp_path / "cars.csv"
    rows = [f"{1000 + i},{['red', 'blue', 'green'][i % 3]},{i % 4},{'diesel' if i % 2 else 'petrol'}"
            for i in range(60)]
    path.write_text("weight,colour,doors,fuel\n" + "\n".join(rows) + "\n")
    data = TabularDataModule(path=str(path), label_column="fuel")
    values, _, _ = data.load()
    assert data.categories == {"colour": ["blue", "green", "red"]}
    assert data.input_columns == ["weight", "colour", "colour", "colour", "doors"]
    assert values[:2].tolist() == [[1000, 0, 0, 1, 0], [1001, 1, 0, 0, 1]]
    assert data.decided["categorical_columns"][0] == ["colour"]
    listed = TabularDataModule(path=str(path), label_column="fuel", categorical_columns=["colour", "doors"])
    listed.setup()
    assert listed.categories["doors"] == ["0", "1", "2", "3"] and listed.sizes["input_size"] == [8]
    assert not listed.decided and listed.state_dict()["categories"] == listed.categories
    numbers_only = TabularDataModule(path=str(path), label_column="fuel", feature_columns=["weight", "doors"])
    assert numbers_only.load()[0].shape == (60, 2) and numbers_only.categories == {}


def test_a_trained_runs_encoding_reads_another_file(tmp_path: Path):
    """eval on another labelled file: the run's columns, categories and statistics, whatever that file holds."""
    trained_on, other = tmp_path / "a.csv", tmp_path / "b.csv"
    trained_on.write_text("x,colour,label\n" + "".join(f"{i},{['red', 'blue'][i % 2]},{i % 2}\n" for i in range(40)))
    other.write_text("note,label,colour,x\n" + "".join(f"n{i},{i % 2},{['blue', 'green'][i % 2]},{i * 10}\n"
                                                    for i in range(40)))
    trained = TabularDataModule(path=str(trained_on), label_column="label")
    trained.setup()
    again = TabularDataModule(path=str(other), label_column="label")
    again.load_state_dict(trained.state_dict())
    again.setup()
    assert again.features == ["x", "colour"] and again.categories == {"colour": ["blue", "red"]}
    assert again.sizes == trained.sizes and torch.equal(again.mean, trained.mean)
    inputs = torch.cat([again.splits[split][0] for split in ("train", "val", "test")]) * again.std + again.mean
    assert sorted(map(tuple, inputs[:, 1:].round().tolist())) == sorted([(1.0, 0.0)] * 20 + [(0.0, 0.0)] * 20)


def test_a_missing_category_is_missing_in_every_input_of_its_column(tmp_path: Path):
    """data.missing=mean fills each of its inputs with the train split's share of that value."""
    path = tmp_path / "pets.csv"
    rows = [f"{i},{'' if i == 5 else ['cat', 'dog', 'dog', 'dog'][i % 4]},{'a' if i % 2 else 'b'}" for i in range(80)]
    path.write_text("age,kind,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(UserError, match="line 7, column 'kind' has no value"):
        TabularDataModule(path=str(path), label_column="label").setup()
    data = TabularDataModule(path=str(path), label_column="label", missing="mean", seed=1)
    data.setup()
    assert data.fill is not None and 0.6 < float(data.fill[2]) < 0.9 and data.fill[1:].sum() == pytest.approx(1)
    assert not any(split[0].isnan().any() for split in data.splits.values())


@pytest.mark.parametrize(("header", "rows", "options", "message"), [
    ("name,x,label", [f"person{i},{i},{i % 2}" for i in range(120)], {},
     "column 'name' holds 120 different texts, too many to be categories"),
    ("x,label", [f"{i},{i % 2}" for i in range(10)], {"categorical_columns": ["colour"]},
     "data.categorical_columns names 'colour', which is not a feature column"),
    ("x,label", ["1,a", "2,b", "3x,a"], {},
     r"line 4, column 'x': '3x' is not a number — fix the cell, read the column as categories with "
     r"data.categorical_columns=\[x\]"),
])
def test_category_errors_name_the_column_and_the_fix(tmp_path: Path, header: str, rows: list[str], options: dict,
                                                   message: str):
    path = tmp_path / "table.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(UserError, match=message):
        TabularDataModule(path=str(path), label_column="label", **options).load()


def test_fractions_must_leave_training_data():
    with pytest.raises(UserError, match="leaves no training data"):
        DigitsDataModule(val_fraction=0.5, test_fraction=0.5).setup()


def test_chosen_classes_are_relabelled_in_the_given_order_and_capped_per_class():
    every = DigitsDataModule(seed=3)
    every.setup()
    chosen = DigitsDataModule(seed=3, classes=[7, 2, 9], max_per_class=20)
    chosen.setup()
    assert chosen.class_names == ["7", "2", "9"] and chosen.spec["num_classes"] == 3
    assert chosen.splits["train"][1].bincount().tolist() == [20, 20, 20]
    assert max(chosen.splits["val"][1].bincount().tolist()) <= 20
    test_inputs, test_labels = chosen.splits["test"]
    all_inputs, all_labels = every.splits["test"]
    for new_label, old_label in enumerate((7, 2, 9)):
        # The test split keeps every example of a chosen class, under its new label.
        assert torch.equal(test_inputs[test_labels == new_label], all_inputs[all_labels == old_label])
    again = DigitsDataModule(seed=3, classes=[7, 2, 9], max_per_class=20)
    again.setup()
    assert torch.equal(again.splits["train"][0], chosen.splits["train"][0])


@pytest.mark.parametrize(("options", "message"), [
    ({"classes": ["3", "eleven"]}, "this data has no class 'eleven'"),
    ({"classes": ["3"]}, "two or more different classes"),
    ({"classes": ["3", "3"]}, "two or more different classes"),
    ({"max_per_class": 0}, "data.max_per_class=0 is invalid"),
])
def test_class_selection_errors(options: dict, message: str):
    with pytest.raises(UserError, match=message):
        DigitsDataModule(**options).setup()


def test_images_convert_between_grayscale_and_rgb():
    from PIL import Image

    from dltrain.data.image_pipeline import ImageBatchPipeline

    gray = DigitsDataModule(channels=3)
    gray.setup()
    assert gray.spec["in_channels"] == 3
    images = gray.splits["train"][0][:4]
    rgb = gray.pipeline(images, training=False)
    assert rgb.shape[1] == 3 and torch.equal(rgb[:, 0], rgb[:, 2])
    pixels = torch.randint(0, 256, (1, 3, 5, 5), dtype=torch.uint8)
    luma = ImageBatchPipeline(channels=1)(pixels, training=False)
    pil = Image.fromarray(pixels[0].permute(1, 2, 0).numpy()).convert("L")
    assert torch.allclose(luma[0, 0] * 255, torch.tensor(np.asarray(pil), dtype=torch.float32), atol=1.0)
    with pytest.raises(UserError, match="data.channels=2"):
        ImageBatchPipeline(channels=2)
