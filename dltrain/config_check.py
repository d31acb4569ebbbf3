"""Check a command line before Hydra runs it: unknown options and keys, wrong types, values out of range.

Each mistake becomes a UserError naming the override and the fix; a sweep (-m) is checked value by value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dltrain.configs import config_dir, group_options, groups
from dltrain.errors import UserError, suggestion
from dltrain.targets import check_targets

_ABSENT = object()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive(v: Any) -> bool:
    return _is_number(v) and v > 0


def _non_negative(v: Any) -> bool:
    return _is_number(v) and v >= 0


def _unit_interval(v: Any) -> bool:
    return _is_number(v) and 0 <= v <= 1


def _dropout(v: Any) -> bool:
    return _is_number(v) and 0 <= v < 1


def _open_fraction(v: Any) -> bool:
    return _is_number(v) and 0 < v < 1


def _count(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _non_negative_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _epochs(v: Any) -> bool:
    return _is_int(v) and (v >= 1 or v == -1)


def _auto_or_bool(v: Any) -> bool:
    return v == "auto" or isinstance(v, bool)


# (key, test, what the value must be, a valid example). Checked on the composed config whatever set the key.
RANGE_RULES: list[tuple[str, Callable[[Any], bool], str, str]] = [
    ("optimizer.lr", _positive, "a number above 0", "0.001"),
    ("optimizer.weight_decay", _non_negative, "a number >= 0", "1e-4"),
    ("optimizer.momentum", _unit_interval, "a number in [0, 1]", "0.9"),
    ("regularization.l1", _non_negative, "a number >= 0", "1e-5"),
    ("regularization.l2", _non_negative, "a number >= 0", "1e-4"),
    ("data.batch_size", _count, "an integer >= 1", "64"),
    ("data.val_fraction", _open_fraction, "a fraction between 0 and 1", "0.1"),
    ("data.test_fraction", _open_fraction, "a fraction between 0 and 1", "0.2"),
    ("data.num_workers", _non_negative_int, "an integer >= 0", "2"),
    ("model.dropout", _dropout, "a number in [0, 1)", "0.2"),
    ("trainer.max_epochs", _epochs, "an integer >= 1 (or -1 for no limit)", "20"),
    ("trainer.channels_last", _auto_or_bool, "auto, true or false", "false"),
    ("callbacks.early_stopping.patience", _non_negative_int, "an integer >= 0", "5"),
    ("seed", _is_int, "an integer", "42"),
]


# The config groups a command cannot run without: leaving one out (~model, model=null) is refused.
NEEDED_GROUPS = {"train": ("model", "data", "task", "optimizer", "trainer"),
                 "transfer": ("data", "task", "optimizer", "trainer")}


def check_command_line(config_name: str, overrides: list[str], multirun: bool) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for variant in _variants(_parsed(overrides), multirun):
        _check_variant(config_name, parser.parse_overrides(variant))


def _parsed(overrides: list[str]) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as error:
        raise UserError(f"cannot read override: {str(error).splitlines()[0]}",
                        "write key=value, group=option, +key=value or ~key (quote values with spaces)") from None


def nulls_as_left_out(overrides: list[str]) -> list[str]:
    """`logger=null` means what `~logger` means (no logger), and becomes that: Hydra itself refuses a null group
    choice with a traceback."""
    return [f"~{override.key_or_group}" if _is_group(override.key_or_group) and override.value() is None
            and not (override.is_delete() or override.is_add() or override.is_force_add()
                     or override.is_sweep_override()) else override.input_line for override in _parsed(overrides)]


def nulled_components_as_set(overrides: list[str]) -> list[str]:
    """`callbacks.early_stopping=null` turns early stopping off; with `callbacks=minimal`, which has none, Hydra would
    refuse the key as unknown. A null for a component (a setting with a `_target_`) that another option of its group
    has is satisfied whatever the choice, and is passed as `++key=null` (set or add). A key that no option has stays as
    typed, for the check to name."""
    from dltrain.configs import option_settings

    def a_component_of_some_option(key: str) -> bool:
        group, _, path = key.partition(".")
        if not path or not _is_group(group):
            return False
        for option in group_options(group):
            node = option_settings(group, option)
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and "_target_" in node:
                return True
        return False

    def plain_null(override) -> bool:
        return override.value() is None and not (override.is_add() or override.is_force_add()
                                                 or override.is_delete() or override.is_sweep_override())

    return [f"++{o.input_line}" if plain_null(o) and a_component_of_some_option(o.key_or_group) else o.input_line
            for o in _parsed(overrides)]


def data_keys_as_set(overrides: list[str]) -> list[str]:
    """`dltrain eval run=DIR data.path=other.csv`: eval's data keys change the checkpoint's own data config, which
    eval.yaml cannot list, so each is passed as `++data.KEY=VALUE` (set or add); eval names a key that config lacks,
    once it has read the checkpoint."""
    return [f"++{o.input_line}" if o.key_or_group.startswith("data.") and not (
        o.is_add() or o.is_force_add() or o.is_delete()) else o.input_line for o in _parsed(overrides)]


def force_keys_of_swept_groups(overrides: list[str]) -> list[str]:
    """`-m data=mnist,cifar10 data.root=x`: Hydra composes a sweep's first config without the swept group
    choices (hydra#2888), so a key that the default option lacks is refused before any job starts. Every
    job's config has been checked here already, so such keys are passed as `++key=value` (set or add).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    swept = {o.key_or_group for o in parsed if o.is_sweep_override() and _is_group(o.key_or_group)}
    return [f"++{o.input_line}" if not (o.is_add() or o.is_force_add() or o.is_delete() or o.is_sweep_override())
            and o.key_or_group.split(".")[0] in swept else o.input_line for o in parsed]


def _variants(parsed: list, multirun: bool) -> list[list[str]]:
    """One override list per sweep value, the other sweeps held at their first value."""
    fixed, sweeps = [], []
    for override in parsed:
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        if not multirun:
            raise UserError(f"'{override.input_line}' gives several values",
                            "add -m to sweep over them, e.g. dltrain train -m " + override.input_line)
        try:
            values = list(override.sweep_string_iterator())
        except Exception:  # a sweeper-specific sweep (interval, tag): left to that sweeper
            continue
        sweeps.append([f"{override.get_key_element()}={value}" for value in values])
    if not sweeps:
        return [fixed]
    firsts = [values[0] for values in sweeps]
    variants = []
    for position, values in enumerate(sweeps):
        for value in values:
            variants.append(fixed + firsts[:position] + [value] + firsts[position + 1:])
    return variants


def _is_group(key: str) -> bool:
    return key in groups()


def _check_variant(config_name: str, parsed: list) -> None:
    from hydra import compose, initialize_config_dir

    choices = [o for o in parsed if _is_group(o.key_or_group) or o.key_or_group.startswith("hydra")]
    values = [o for o in parsed if o not in choices]
    for override in choices:
        if override.is_delete() and override.key_or_group in NEEDED_GROUPS.get(config_name, ()):
            group = override.key_or_group
            raise UserError(f"{override.input_line} leaves out the {group} group, which dltrain {config_name} needs",
                            f"choose one of its options with {group}=OPTION (dltrain ls {group} lists them)")
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=config_name):
        reference = _compose(compose, config_name, [o.input_line for o in choices], choices)
        for override in values:
            if override.is_delete() or override.is_add() or override.is_force_add():
                continue
            current = _lookup(reference, override.key_or_group)
            if current is _ABSENT:
                _unknown_key(reference, override.key_or_group, override.input_line, config_name)
            _check_type(override.key_or_group, override.value(), current)
        composed = _with_values(reference, values)
        _check_required(composed)
        check_ranges(composed)
        check_targets(composed)


def _lookup(cfg, key: str) -> Any:
    """The value at `key`, None for a required value not yet given (???), _ABSENT for no such key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    try:
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True,
                                throw_on_resolution_failure=False)
    except MissingMandatoryValue:
        return None


def _check_required(cfg) -> None:
    missing = sorted(_missing_keys(cfg))
    if missing:
        raise UserError(f"{', '.join(missing)} must be given (no default)",
                        " ".join(f"{key}=..." for key in missing) + " on the command line")


def _compose(compose: Callable, config_name: str, overrides: list[str], choices: list):
    """Hydra's composition; an option it cannot find (in conf/ or a user's hydra.searchpath) gets suggestions."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        if isinstance(error, MissingConfigException):
            for override in choices:
                if _is_group(override.key_or_group) and not override.is_delete():
                    _check_option(override.key_or_group, override.value())
        raise _composition_error(error) from None


def _with_values(reference, values: list):
    """The reference (options chosen, no values set) with the values set as Hydra sets them after composing: the
    same config as composing the whole command line again, without the second composition (a third of a second)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        ConfigLoaderImpl._apply_overrides_to_config(values, reference)
    except (HydraException, OmegaConfBaseException) as error:
        raise _composition_error(error) from None
    return reference


def _composition_error(error: Exception) -> UserError:
    """What Hydra or OmegaConf refused in a command line, in one line."""
    return UserError(" ".join(str(error).split("\n")[:2]).strip(),
                     "check the override against `dltrain ls` and `--cfg job`")


def _check_option(group: str, option: Any) -> None:
    options = group_options(group)
    if isinstance(option, str) and option in options:
        return
    hint = suggestion(str(option), options)
    raise UserError(f"unknown {group} '{option}'",
                    f"{hint + ' ' if hint else ''}choose one of: {', '.join(options)} (see dltrain ls {group})")


def _unknown_key(reference, key: str, line: str, config_name: str) -> None:
    from omegaconf import DictConfig, OmegaConf

    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(reference, parent_key, default=None) if parent_key else reference
    siblings = [str(k) for k in parent.keys()] if isinstance(parent, DictConfig) else []
    close = suggestion(leaf, siblings)
    prefix = f"{parent_key}." if parent_key else ""
    hint = close.replace("'", f"'{prefix}", 1) if close else ""
    raise UserError(f"unknown key '{key}'",
                    f"{hint + ' ' if hint else ''}to add a new key write +{line}; "
                    f"`dltrain {config_name} --cfg job` shows every key")


def _check_type(key: str, value: Any, current: Any) -> None:
    """The shipped default's type is the expected type; null and string defaults accept anything.

    Integer and float defaults accept any number: Lightning gives some keys both meanings (limit_*_batches:
    a count or a fraction); keys that must be whole numbers have a range rule.
    """
    if value is None or current is None or isinstance(current, str):
        return
    if isinstance(current, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(current, (int, float)):
        ok, expected = _is_number(value), "a number"
    elif _is_sequence(current):
        ok, expected = isinstance(value, list), "a list such as [256,128]"
    else:
        return
    if not ok:
        raise UserError(f"{key} must be {expected}, got {value!r}", f"pass e.g. {key}={_show(current)}")


def _is_sequence(value: Any) -> bool:
    from omegaconf import ListConfig

    return isinstance(value, (list, ListConfig))


def _show(value: Any) -> str:
    from omegaconf import ListConfig, OmegaConf

    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).replace(" ", "")


def _missing_keys(node, prefix: str = "") -> list[str]:
    """Keys still at ??? anywhere below `node`; interpolations are left unresolved."""
    from omegaconf import DictConfig, OmegaConf

    found = []
    for key in node.keys():
        if OmegaConf.is_missing(node, key):
            found.append(f"{prefix}{key}")
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            found += _missing_keys(child, f"{prefix}{key}.")
    return found


def check_ranges(cfg) -> None:
    from omegaconf import OmegaConf

    for key, test, requirement, example in RANGE_RULES:
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if value is not None and not test(value):
            raise UserError(f"{key}={_show(value)} is invalid: it must be {requirement}",
                            f"pass e.g. {key}={example}")
