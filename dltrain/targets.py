"""What a config may build: every `_target_` outside dltrain must be a class of the kind its place expects.

Hydra's instantiate calls whatever a `_target_` names, and its blocklist is best effort (`torch.load` with
`weights_only: false` passes it). So `model._target_=os.system` on a command line, or in a user's config folder,
is refused before anything is built, and a checkpoint's config is held to the same rule. Users' own classes pass:
a model is any torch.nn.Module subclass, data any LightningDataModule, and so on.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from dltrain.errors import UserError, first_line

OWN_PREFIX = "dltrain."
# The base class a target must subclass, by the top-level config key it sits under, and the words for it.
EXPECTED = {
    "model": ("torch.nn.Module", "a model (a torch.nn.Module class)"),
    "data": ("pytorch_lightning.LightningDataModule", "a data module (a LightningDataModule class)"),
    "task": ("pytorch_lightning.LightningModule", "a task (a LightningModule class)"),
    "optimizer": ("torch.optim.Optimizer", "an optimizer (a torch.optim.Optimizer class)"),
    "scheduler": ("torch.optim.lr_scheduler.LRScheduler", "a scheduler (a torch LRScheduler class)"),
    "callbacks": ("pytorch_lightning.Callback", "a callback (a Lightning Callback class)"),
    "logger": ("pytorch_lightning.loggers.Logger", "a logger (a Lightning Logger class)"),
}


def targets(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (key path, `_target_`) in a config of plain containers."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_" and isinstance(value, str):
                found.append((path, value))
            else:
                found += targets(value, where)
        return found
    if isinstance(node, list):
        return [found for index, value in enumerate(node) for found in targets(value, f"{path}[{index}]")]
    return []


def check_targets(config: Any) -> None:
    """Refuse the first `_target_` that is neither dltrain's own, nor one a shipped config builds, nor a class of
    the kind its place expects. Only targets of the last sort are imported (the shipped ones would cost the
    seconds of importing torch and Lightning on every command line)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(config):  # unresolved: interpolations such as ${hydra:...} need a running job
        config = OmegaConf.to_container(config, resolve=False)
    shipped = shipped_targets()
    for path, target in targets(config):
        if target.startswith(OWN_PREFIX) or target in shipped:
            continue
        place = path.split(".")[0].split("[")[0]
        base, kind = EXPECTED.get(place, (None, "something dltrain builds"))
        if base is None:
            raise UserError(f"{path}._target_={target}: dltrain builds only its own classes there",
                            f"remove {path}._target_, or point it at a dltrain class")
        if not _subclass_of(target, base, path):
            raise UserError(f"{path}._target_={target} is not {kind}; dltrain builds nothing else there",
                            f"point it at {kind}, or choose a shipped one (dltrain ls {place})")


@cache
def shipped_targets() -> frozenset[str]:
    """Every `_target_` of the configs dltrain ships (read as text: no YAML parsing, nothing imported)."""
    import re

    from dltrain.configs import config_dir

    pattern = re.compile(r"^\s*_target_:\s*([\w.]+)\s*$", re.MULTILINE)
    return frozenset(match for path in config_dir().rglob("*.yaml")
                     for match in pattern.findall(path.read_text(encoding="utf-8")))


def locate(target: str) -> Any:
    """The object a dotted path names (module attributes and nested classes), imported quietly: Hydra's own
    lookup logs an ERROR line for each failure, which would break the one-line error promise."""
    import importlib

    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as error:
            if error.name is None or not ".".join(parts[:split]).startswith(error.name):
                raise
            continue
        for name in parts[split:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(f"No module named '{parts[0]}'", name=parts[0])


def _subclass_of(target: str, base: str, path: str) -> bool:
    try:
        candidate = locate(target)
    except Exception as error:
        reason = first_line(error)
        raise UserError(f"{path}._target_={target} cannot be imported: {reason}",
                        "check its spelling, and that its package is installed where dltrain runs") from None
    return isinstance(candidate, type) and issubclass(candidate, locate(base))
