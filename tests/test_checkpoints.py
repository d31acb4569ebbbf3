"""Checkpoint lookup and safe loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dltrain.checkpoints import find_checkpoint, load_checkpoint, run_directory_of
from dltrain.errors import UserError


def _save(path: Path, target: str) -> Path:
    config = {"model": {"_target_": target}, "optimizer": {"_target_": "torch.optim.SGD"}}
    torch.save({"state_dict": {}, "dltrain": {"config": config, "class_names": [], "spec": {}}}, path)
    return path


def test_classes_outside_dltrain_and_torch_need_trust(tmp_path: Path):
    path = _save(tmp_path / "x.ckpt", "os.system")
    with pytest.raises(UserError, match="os.system"):
        load_checkpoint(path)
    assert load_checkpoint(path, trust=True)["dltrain"]["config"]["model"]["_target_"] == "os.system"
    assert load_checkpoint(_save(tmp_path / "ok.ckpt", "dltrain.models.mlp.MLP"))


def test_pickled_objects_are_refused(tmp_path: Path):
    path = tmp_path / "evil.ckpt"
    torch.save({"dltrain": {"config": {}}, "payload": Path("x")}, path)
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_without_metadata_is_refused(tmp_path: Path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UserError, match="not a dltrain checkpoint"):
        load_checkpoint(path)


def test_run_directory_lookup(tmp_path: Path):
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(b"")
    assert find_checkpoint(str(tmp_path), None) == last
    (tmp_path / "checkpoints" / "best.ckpt").write_bytes(b"")
    assert find_checkpoint(str(tmp_path), None).name == "best.ckpt"
    assert run_directory_of(last) == tmp_path.resolve()
    with pytest.raises(UserError, match="exactly one"):
        find_checkpoint(str(tmp_path), str(last))
