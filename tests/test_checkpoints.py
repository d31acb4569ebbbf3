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


def test_last_checkpoint_waits_for_its_interval_but_always_writes_the_last_epoch(tmp_path: Path, monkeypatch):
    from types import SimpleNamespace

    from pytorch_lightning.callbacks import ModelCheckpoint

    from dltrain.callbacks import LastCheckpoint

    written = []
    monkeypatch.setattr(ModelCheckpoint, "on_train_epoch_end", lambda self, trainer, module: written.append(
        trainer.current_epoch))
    clock = iter([0.0, 10.0, 20.0, 70.0, 80.0, 90.0, 100.0, 110.0])
    monkeypatch.setattr("dltrain.callbacks.time.monotonic", lambda: next(clock))
    last = LastCheckpoint(tmp_path, every_seconds=60)  # starts its clock at 0
    for epoch in range(4):
        trainer = SimpleNamespace(current_epoch=epoch, max_epochs=4, max_steps=-1, global_step=10 * epoch,
                                  should_stop=False)
        last.on_train_epoch_end(trainer, None)
    # 10 s, 20 s: not yet; 70 s: due; the fourth epoch is the last one.
    assert written == [2, 3]
    early = SimpleNamespace(current_epoch=0, max_epochs=30, max_steps=-1, global_step=5, should_stop=True)
    by_steps = SimpleNamespace(current_epoch=0, max_epochs=-1, max_steps=5, global_step=5, should_stop=False)
    assert LastCheckpoint._last_epoch(early) and LastCheckpoint._last_epoch(by_steps)
