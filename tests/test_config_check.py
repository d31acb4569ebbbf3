"""Command-line checking before Hydra runs: sweeps are checked value by value; types follow the defaults."""

from __future__ import annotations

import pytest

from dltrain.config_check import _check_type, check_command_line
from dltrain.configs import group_options
from dltrain.errors import UserError


def test_a_sweep_is_checked_value_by_value():
    check_command_line("train", ["optimizer=adam,sgd", "optimizer.lr=0.1,0.01"], multirun=True)
    with pytest.raises(UserError, match="optimizer.lr=-0.1 is invalid"):
        check_command_line("train", ["optimizer=adam,sgd", "optimizer.lr=0.1,-0.1"], multirun=True)


def test_valid_command_lines_pass():
    check_command_line("train", ["model=mlp", "model.hidden_sizes=[64]", "+trainer.fast_dev_run=true",
                                 "~callbacks.early_stopping", "hydra.run.dir=somewhere"], multirun=False)
    check_command_line("train", ["experiment=digits_mlp", "optimizer.lr=1"], multirun=False)
    check_command_line("eval", ["run=runs/x", "data.split=val"], multirun=False)


def test_ranges_apply_to_values_set_by_experiments_too():
    with pytest.raises(UserError, match="trainer.max_epochs=0"):
        check_command_line("train", ["experiment=digits_mlp", "trainer.max_epochs=0"], multirun=False)


@pytest.mark.parametrize(("value", "default", "ok"), [
    (1, 0.5, True), (0.5, 1, True), (True, 0.5, False), ("abc", 1, False), ("x", "y", True), (3, "auto", True),
    ([1], [2, 3], True), (1, [2], False), (None, 0.1, True), ("yes", False, False),
])
def test_types_follow_the_shipped_default(value, default, ok):
    if ok:
        _check_type("key", value, default)
    else:
        with pytest.raises(UserError):
            _check_type("key", value, default)


def test_options_from_a_users_search_path(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mynet.yaml").write_text("# mine\n_target_: dltrain.models.mlp.MLP\nhidden_sizes: [8]\n")
    search = f"hydra.searchpath=[file://{tmp_path}]"
    check_command_line("train", [search, "model=mynet", "model.hidden_sizes=[4]"], multirun=False)
    with pytest.raises(UserError, match="unknown model 'mynett'"):
        check_command_line("train", [search, "model=mynett"], multirun=False)


def test_keys_of_swept_groups_are_set_or_added_so_hydra_can_compose_the_sweep():
    from dltrain.config_check import force_keys_of_swept_groups

    overrides = ["data=mnist,cifar10", "data.root=files", "+data.extra=1", "model=resnet", "model.depth=18",
                 "optimizer.lr=0.1"]
    assert force_keys_of_swept_groups(overrides) == [
        "data=mnist,cifar10", "++data.root=files", "+data.extra=1", "model=resnet", "model.depth=18",
        "optimizer.lr=0.1"]


def test_a_null_for_a_component_another_option_has_is_satisfied_whatever_the_choice():
    """callbacks=minimal has no early stopping: turning it off is no mistake, a misspelt key still is."""
    from dltrain.config_check import nulled_components_as_set

    overrides = ["callbacks=minimal", "callbacks.early_stopping=null", "callbacks.early_stoping=null",
                 "trainer.gradient_clip_val=null", "~callbacks.lr_monitor"]
    passed = nulled_components_as_set(overrides)
    assert passed == ["callbacks=minimal", "++callbacks.early_stopping=null", *overrides[2:]]
    check_command_line("train", [passed[0], passed[1]], multirun=False)
    with pytest.raises(UserError, match="unknown key 'callbacks.early_stoping'"):
        check_command_line("train", [passed[0], passed[2]], multirun=False)


@pytest.mark.parametrize("name", group_options("experiment"))
def test_every_recipe_composes_and_passes_the_checks(name: str):
    check_command_line("train", [f"experiment={name}", "++data.root=/data"], multirun=False)
