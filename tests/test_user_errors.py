"""Every promised bad input: exit code 2, one line naming the problem and the fix, no traceback, no debris."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_user_error, run_dltrain

CONFIG_ERRORS = [
    (["model=lenett"], "unknown model 'lenett'", "did you mean 'lenet'?"),
    (["optimizer.lrr=0.1"], "unknown key 'optimizer.lrr'", "did you mean 'optimizer.lr'?"),
    (["optimizer.lr=abc"], "optimizer.lr must be a number, got 'abc'", "optimizer.lr="),
    (["optimizer.lr=-1"], "optimizer.lr=-1 is invalid", "a number above 0"),
    (["data.batch_size=0"], "data.batch_size=0 is invalid", "an integer >= 1"),
    (["data.batch_size=1.5"], "data.batch_size=1.5 is invalid", "an integer >= 1"),
    (["model=mlp", "model.hidden_sizes=3"], "model.hidden_sizes must be a list", "[256,128]"),
    (["model=mlp", "model.batch_norm=maybe"], "model.batch_norm must be true or false", "false"),
    (["model.dropout=1.5"], "model.dropout=1.5 is invalid", "[0, 1)"),
    (["optimizer=adam,sgd"], "gives several values", "add -m"),
    (["-m", "optimizer=adam,sgdd"], "unknown optimizer 'sgdd'", "did you mean 'sgd'?"),
    (["data=tabular"], "data.label_column, data.path must be given", "data.path=..."),
    (["nonsense"], "cannot read override", "key=value"),
]


@pytest.mark.parametrize(("overrides", "problem", "fix"), CONFIG_ERRORS,
                         ids=[" ".join(case[0]) for case in CONFIG_ERRORS])
def test_bad_overrides_are_one_line_user_errors(dltrain, tmp_path: Path, overrides, problem, fix):
    result = dltrain("train", *overrides)
    assert_user_error(result, problem, fix)
    assert not (tmp_path / "runs").exists()


def test_unknown_command_suggests(dltrain):
    assert_user_error(dltrain("trian"), "unknown command 'trian'", "did you mean 'train'?")


def test_unknown_group_in_ls(dltrain):
    assert_user_error(dltrain("ls", "modle"), "unknown config group 'modle'", "did you mean 'model'?")


def test_missing_csv_file_leaves_no_run_directory(dltrain, tmp_path: Path):
    result = dltrain("train", "data=tabular", "data.path=missing.csv", "data.label_column=y")
    assert_user_error(result, "no such file", "missing.csv")
    assert not (tmp_path / "runs").exists()


def test_missing_label_column(dltrain, tmp_path: Path, iris_like_csv: Path):
    result = dltrain("train", "data=tabular", f"data.path={iris_like_csv}", "data.label_column=specie")
    assert_user_error(result, "no column 'specie'", "did you mean 'species'?")
    assert not (tmp_path / "runs").exists()


def test_image_model_on_tabular_data(dltrain, iris_like_csv: Path):
    result = dltrain("train", "model=lenet", "data=tabular", f"data.path={iris_like_csv}",
                     "data.label_column=species")
    assert_user_error(result, "LeNet-5 needs images", "model=mlp")


def test_eval_missing_run_directory(dltrain):
    assert_user_error(dltrain("eval", "run=runs/nowhere"), "run directory not found")


def test_eval_missing_checkpoint(dltrain):
    assert_user_error(dltrain("eval", "ckpt=nowhere.ckpt"), "checkpoint not found: nowhere.ckpt")


def test_eval_run_without_checkpoint(dltrain, tmp_path: Path):
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    assert_user_error(dltrain("eval", "run=runs/empty"), "has no checkpoints/best.ckpt")


def test_eval_corrupt_checkpoint(dltrain, tmp_path: Path):
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    assert_user_error(dltrain("eval", "ckpt=broken.ckpt"), "cannot read checkpoint")


def test_debug_env_shows_the_traceback(tmp_path: Path):
    result = run_dltrain("eval", "run=runs/nowhere", cwd=tmp_path, env={"DLTRAIN_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_trainer_settings_lightning_rejects(dltrain, tmp_path: Path):
    result = dltrain("train", "debug=smoke", "+trainer.max_epoch=3")
    assert_user_error(result, "cannot set up the trainer", "max_epoch")
    assert not (tmp_path / "runs").exists()


def test_gpu_requested_without_one(dltrain):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert_user_error(dltrain("train", "debug=smoke", "trainer=gpu"), "cannot set up the trainer", "accelerator")
