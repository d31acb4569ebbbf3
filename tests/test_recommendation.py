"""Recommendation through the same CLI: matrix factorization recovers planted low-rank ratings to near the noise,
NeuMF ranks held-out items far above the popularity baseline, eval reproduces both, predict recommends from the run
and from ONNX alike, MovieLens' own files read as they are, and bad ratings files get one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import assert_user_error, run_in_process

NOISE = 0.5


def planted_ratings(path: Path, users: int = 300, items: int = 200, per_user: int = 100, rank: int = 4) -> Path:
    """Ratings 3 + <u, v> / sqrt(rank) + N(0, NOISE^2) of a random rank-4 model: no model can beat RMSE NOISE."""
    rng = np.random.default_rng(0)
    user_factors, item_factors = rng.normal(0, 1, (users, rank)), rng.normal(0, 1, (items, rank))
    lines = ["user,item,rating,timestamp"]
    for user in range(users):
        for item in rng.choice(items, per_user, replace=False):
            rating = 3 + user_factors[user] @ item_factors[item] / np.sqrt(rank) + rng.normal(0, NOISE)
            lines.append(f"u{user},i{item},{rating:.4f},{len(lines)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def planted_interactions(path: Path, users: int = 400, items: int = 300, per_user: int = 20, rank: int = 4) -> Path:
    """Each user's 20 interactions are the items it likes most under a planted rank-4 taste plus item popularity and
    noise: popularity explains part of them, the taste the rest."""
    rng = np.random.default_rng(1)
    user_factors, item_factors = rng.normal(0, 1, (users, rank)), rng.normal(0, 1, (items, rank))
    bias = rng.normal(0, 0.5, items)
    lines = ["user,item,timestamp"]
    for user in range(users):
        score = user_factors[user] @ item_factors.T / np.sqrt(rank) + bias + rng.gumbel(0, 0.5, items)
        for time, item in enumerate(rng.permutation(np.argsort(-score)[:per_user])):
            lines.append(f"{user},{item},{time}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def rated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rating")
    planted_ratings(root / "ratings.csv")
    result = run_in_process("train", "task=rating", "model=mf", "model.embedding_dim=4", "data=ratings",
                            "data.path=ratings.csv", "optimizer.lr=0.01", "scheduler=none", "trainer.max_epochs=25",
                            "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


@pytest.fixture(scope="module")
def ranked(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ranking")
    planted_interactions(root / "clicks.csv")
    result = run_in_process("train", "task=ranking", "model=neumf", "data=ratings", "data.path=clicks.csv",
                            "data.implicit=true", "data.split=leave_last_out", "optimizer.lr=0.003",
                            "trainer.max_epochs=10", "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


@pytest.mark.slow
def test_matrix_factorization_comes_within_ten_percent_of_the_noise(rated: Path):
    metrics = json.loads((rated / "metrics.json").read_text())
    print(f"MF: test RMSE {metrics['test/rmse']:.3f} (noise {NOISE}, "
          f"training mean {metrics['test/rmse_mean_baseline']:.3f})")
    assert metrics["test/rmse"] <= 1.1 * NOISE
    assert metrics["test/rmse_mean_baseline"] > 2 * NOISE
    result = run_in_process("eval", f"run={rated}", cwd=rated.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((rated / "eval.json").read_text())["test/rmse"] == pytest.approx(metrics["test/rmse"], abs=1e-6)


@pytest.mark.slow
def test_neumf_ranks_held_out_items_far_above_popularity(ranked: Path):
    metrics = json.loads((ranked / "metrics.json").read_text())
    print(f"NeuMF: HR@10 {metrics['test/hr_10']:.3f} vs popularity {metrics['test/hr_10_popularity']:.3f}, "
          f"NDCG@10 {metrics['test/ndcg_10']:.3f} vs {metrics['test/ndcg_10_popularity']:.3f}")
    assert metrics["test/hr_10"] >= metrics["test/hr_10_popularity"] + 0.1
    assert 10 / 299 < metrics["test/coverage_10"] <= 1  # more than the popular ten for everyone
    assert "monitor: val/ndcg_10" in (ranked / "config.yaml").read_text()
    result = run_in_process("eval", f"run={ranked}", cwd=ranked.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((ranked / "eval.json").read_text())["test/hr_10"] == pytest.approx(metrics["test/hr_10"])


@pytest.mark.slow
def test_predict_recommends_unseen_items_from_the_run_and_from_onnx(ranked: Path, tmp_path: Path):
    (tmp_path / "users.txt").write_text("user\n5\n17\nsomebody_new\n")
    exported = run_in_process("export", f"run={ranked}", "format=onnx", f"output={tmp_path / 'export'}",
                              cwd=ranked.parent)
    assert exported.returncode == 0, exported.stderr[-3000:]
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["input"]["shape"][1] == 2 and manifest["input"]["dtype"] == "int64"
    tables = {}
    for source, name in ((f"run={ranked}", "run.csv"), (f"model={tmp_path / 'export' / 'model.onnx'}", "onnx.csv")):
        result = run_in_process("predict", source, f"input={tmp_path / 'users.txt'}", "top_k=5",
                                f"output={tmp_path / name}", cwd=ranked.parent)
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / name) as handle:
            tables[name] = list(csv.DictReader(handle))
    assert [row["item"] for row in tables["run.csv"]] == [row["item"] for row in tables["onnx.csv"]]
    rows = tables["run.csv"]
    assert len(rows) == 15 and [row["rank"] for row in rows[:5]] == ["1", "2", "3", "4", "5"]
    seen = {line.split(",")[1] for line in (ranked.parent / "clicks.csv").read_text().splitlines()[1:]
            if line.startswith("5,")}
    assert not seen & {row["item"] for row in rows if row["user"] == "5"}
    assert all(row["note"].startswith("unknown user") for row in rows if row["user"] == "somebody_new")


def _data(path: Path, **options):
    from dltrain.data.ratings import RatingsDataModule

    data = RatingsDataModule(str(path), seed=0, **options)
    data.setup()
    return data


def test_movielens_files_read_as_they_are(tmp_path: Path):
    """u.data (tab-separated, no header) and ratings.dat (`::`) give the same interactions as a CSV with a header."""
    interactions = [(1, 10, 4, 100), (1, 20, 3, 200), (2, 10, 5, 150), (2, 30, 1, 160), (3, 20, 2, 170),
                    (3, 30, 4, 180), (1, 30, 5, 300), (2, 20, 2, 310), (3, 10, 3, 320), (4, 10, 1, 330)]
    (tmp_path / "u.data").write_text("".join("\t".join(map(str, row)) + "\n" for row in interactions))
    (tmp_path / "ratings.dat").write_text("".join("::".join(map(str, row)) + "\n" for row in interactions))
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
        ",".join(map(str, row)) + "\n" for row in interactions))
    loaded = [_data(tmp_path / "u.data", header=False, columns=["user", "item", "rating", "timestamp"]),
              _data(tmp_path / "ratings.dat", header=False), _data(tmp_path / "ratings.csv")]
    for data in loaded:
        assert data.users == ["1", "2", "3", "4"] and data.items == ["10", "20", "30"]
        assert data.spec == {"num_users": 4, "num_items": 3, "input_kind": "interactions"}
        assert sum(data.split_size(split) for split in ("train", "val", "test")) == 10
    for split in ("train", "val", "test"):
        assert all(torch.equal(loaded[0].splits[split][1], data.splits[split][1]) for data in loaded)


def test_leave_last_out_holds_out_each_users_latest_interactions(tmp_path: Path):
    lines = ["user,item,rating,timestamp"] + [f"u{user},i{item},3,{10 * item + user}" for user in range(4)
                                              for item in range(5)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    data = _data(tmp_path / "r.csv", split="leave_last_out")
    test_items = {data.users[user]: data.items[item] for user, item in data.splits["test"][0].tolist()}
    val_items = {data.users[user]: data.items[item] for user, item in data.splits["val"][0].tolist()}
    assert test_items == {f"u{user}": "i4" for user in range(4)} and set(val_items.values()) == {"i3"}
    assert data.split_size("train") == 12


def test_implicit_training_batches_hold_sampled_negatives_the_user_never_touched(tmp_path: Path):
    planted_interactions(tmp_path / "clicks.csv", users=30, items=40, per_user=8)
    data = _data(tmp_path / "clicks.csv", implicit=True, negatives=3, batch_size=16)
    seen = {tuple(pair) for pair in data.splits["train"][0].tolist()}
    pairs, labels = next(iter(data.loader("train", shuffle=True)))
    positives = int(labels.sum())
    assert positives == 16 and len(labels) == 16 * 4
    assert all(tuple(pair) in seen for pair in pairs[:positives].tolist())
    assert not any(tuple(pair) in seen for pair in pairs[positives:].tolist())


def test_duplicates_are_averaged_kept_last_or_refused(tmp_path: Path):
    (tmp_path / "r.csv").write_text("user,item,rating\na,x,2\na,y,3\nb,x,4\nb,y,5\na,x,4\nc,y,1\n")
    mean = _data(tmp_path / "r.csv", val_fraction=0.0, test_fraction=0.0)
    last = _data(tmp_path / "r.csv", val_fraction=0.0, test_fraction=0.0, duplicates="last")
    rating = {tuple(pair): float(value) for pair, value in zip(mean.splits["train"][0].tolist(),
                                                             mean.splits["train"][1], strict=True)}
    assert rating[(0, 0)] == 3.0 and len(rating) == 5
    assert 4.0 in last.splits["train"][1].tolist()


@pytest.mark.parametrize(("content", "options", "fragments"), [
    ("user,item,rating\na,x,2\na,x,3\nb,y,1\n", ["data.duplicates=error"],
     ("line 3: user a and item x appear again", "data.duplicates=mean")),
    ("user,item,rating\na,x,2\nb,y,9\nc,x,1\n", ["data.rating_range=[1,5]"],
     ("line 3: rating 9 is outside data.rating_range=[1, 5]", "widen")),
    ("user,item,rating\na,x,2\nb,y,good\nc,x,1\n", [], ("line 3: the rating or timestamp", "data.implicit=true")),
    ("user,item,rating\na,x,2\na,y,3\n", [], ("1 user(s) and 2 item(s)", "at least two users")),
    ("person,thing,rating\na,x,2\nb,y,3\n", [], ("no user column among person, thing, rating", "data.user_column")),
])
def test_bad_ratings_files_are_one_line_errors(tmp_path: Path, content: str, options: list[str], fragments):
    (tmp_path / "r.csv").write_text(content)
    result = run_in_process("train", "task=rating", "model=mf", "data=ratings", "data.path=r.csv", *options,
                            cwd=tmp_path)
    assert_user_error(result, *fragments)


def test_a_classifier_is_refused_for_ratings(tmp_path: Path):
    (tmp_path / "r.csv").write_text("user,item,rating\na,x,2\nb,y,3\na,y,1\nb,x,4\n")
    result = run_in_process("train", "task=rating", "model=lenet", "data=ratings", "data.path=r.csv", cwd=tmp_path)
    assert_user_error(result, "recommender", "model=mf")
    result = run_in_process("train", "model=mf", "data=ratings", "data.path=r.csv", cwd=tmp_path)
    assert_user_error(result, "task=classification learns from classes", "gives ratings")


def test_movielens_reads_grouplens_files_under_its_root_and_says_where_they_go(tmp_path: Path):
    from dltrain.data.movielens import MovieLensDataModule

    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text("".join(f"{user}\t{item}\t{1 + (user + item) % 5}\t{user * item}\n"
                                                         for user in range(1, 8) for item in range(1, 6)))
    data = MovieLensDataModule(str(tmp_path), seed=0)
    data.setup()
    assert data.spec == {"num_users": 7, "num_items": 5, "input_kind": "interactions"}
    result = run_in_process("train", "experiment=movielens_neumf", "data.root=nowhere", cwd=tmp_path)
    assert_user_error(result, "no MovieLens file at nowhere/ml-100k/u.data", "ml-100k.zip", "data.download=true")


@pytest.mark.slow
def test_autorec_rebuilds_planted_ratings_from_its_checkpoint_alone(tmp_path: Path):
    planted_ratings(tmp_path / "ratings.csv")
    result = run_in_process("train", "task=rating", "model=autorec", "data=ratings", "data.path=ratings.csv",
                            "optimizer.lr=0.003", "scheduler=none", "trainer.max_epochs=25", "hydra.run.dir=run",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    print(f"AutoRec: test RMSE {metrics['test/rmse']:.3f} (mean {metrics['test/rmse_mean_baseline']:.3f})")
    assert metrics["test/rmse"] <= 0.6 * metrics["test/rmse_mean_baseline"]
    result = run_in_process("eval", "run=run", cwd=tmp_path)  # the training ratings come back with the weights
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["test/rmse"] == pytest.approx(metrics["test/rmse"])


def test_bpr_full_ranking_and_seen_items_on_request(tmp_path: Path):
    planted_interactions(tmp_path / "clicks.csv", users=40, items=50, per_user=10)
    result = run_in_process("train", "task=ranking", "task.loss=bpr", "task.full_ranking=true", "model=gmf",
                            "data=ratings", "data.path=clicks.csv", "data.implicit=true", "data.split=leave_last_out",
                            "trainer.max_epochs=2", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert all(0 <= metrics[key] <= 1 for key in ("test/hr_10", "test/ndcg_10", "test/coverage_10"))
    (tmp_path / "users.txt").write_text("3\n")
    for exclude, name in (("true", "unseen.csv"), ("false", "all.csv")):
        result = run_in_process("predict", "run=run", "input=users.txt", "top_k=50", f"exclude_seen={exclude}",
                                f"output={name}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    unseen, every = ((tmp_path / name).read_text().splitlines()[1:] for name in ("unseen.csv", "all.csv"))
    assert 0 < len(unseen) < len(every)  # every item the data has, or those user 3 did not train on
