"""Optimizers, learning-rate schedulers and L1/L2 penalties from plain config dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

# Keys of a scheduler config that tell Lightning when to step it; the rest go to the scheduler class.
SCHEDULER_STEPPING_KEYS = ("interval", "monitor", "frequency")


def build_optimizer(config: dict[str, Any], parameters: Iterable[nn.Parameter] | list[dict[str, Any]]
                    ) -> torch.optim.Optimizer:
    """The optimizer of `config` over parameters or parameter groups; a group's `lr_scale` multiplies the lr."""
    from hydra.utils import get_class

    options = {key: value for key, value in config.items() if key != "_target_"}
    parameters = [_scaled(item, options.get("lr")) if isinstance(item, dict) else item for item in parameters]
    optimizer = get_class(config["_target_"])
    try:
        return optimizer(parameters, **options)
    except TypeError as error:
        from dltrain.errors import UserError, first_line

        raise UserError(f"cannot build the optimizer {optimizer.__name__}: {first_line(error)}",
                        f"check the optimizer.* settings against {optimizer.__name__}'s arguments") from None


def _scaled(group: dict[str, Any], lr: float | None) -> dict[str, Any]:
    group = dict(group)
    scale = group.pop("lr_scale", 1.0)
    if lr is not None:
        group["lr"] = lr * scale
    return group


def parameter_groups(model: nn.Module, lr_scales: dict[str, float]) -> list[dict[str, Any]]:
    """One optimizer group per learning-rate factor: the parameters under each module name of `lr_scales`
    get its factor, the rest factor 1. Frozen parameters stay in their group: unfrozen later, they train."""
    if not lr_scales:
        return [{"params": list(model.parameters())}]
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        scale = next((factor for prefix, factor in lr_scales.items()
                      if name == prefix or name.startswith(prefix + ".")), 1.0)
        groups.setdefault(scale, []).append(parameter)
    # The base rate's group first: metrics.csv logs the first group's rate.
    return [{"params": groups[scale], "lr_scale": scale} for scale in sorted(groups, key=lambda scale: scale != 1.0)]


def build_scheduler(config: dict[str, Any] | None, optimizer: torch.optim.Optimizer,
                    total_steps: int) -> dict[str, Any] | None:
    """A Lightning lr-scheduler dict, or None for a constant rate.

    Options left null that the run can answer are filled in here: `total_steps` (the run's optimizer
    steps) and `max_lr` (the optimizer's lr), as OneCycleLR needs.
    """
    from hydra.utils import get_class

    if not config or not config.get("_target_"):
        return None
    options = {key: value for key, value in config.items()
               if key != "_target_" and key not in SCHEDULER_STEPPING_KEYS}
    if "total_steps" in options and options["total_steps"] is None:
        options["total_steps"] = total_steps
    if "max_lr" in options and options["max_lr"] is None:
        options["max_lr"] = [group["lr"] for group in optimizer.param_groups]
    scheduler = get_class(config["_target_"])(optimizer, **options)
    stepping = {key: config[key] for key in SCHEDULER_STEPPING_KEYS if config.get(key) is not None}
    return {"scheduler": scheduler, **stepping}


# What fixes a schedule's length in its saved state (cosine's T_max, one-cycle's steps and phases). A resumed run
# builds its schedulers for its own length and keeps these from the new ones, so that a run extended to more
# epochs anneals over the whole new length instead of the first run's.
SCHEDULE_LENGTH_STATE = ("T_max", "total_steps", "_schedule_phases")


def without_schedule_lengths(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Take the length entries out of checkpointed scheduler states (in place), returning them per scheduler."""
    return [{key: state.pop(key) for key in SCHEDULE_LENGTH_STATE if key in state} for state in states]


def stretch_schedules(schedulers: list[Any], saved_lengths: list[dict[str, Any]]) -> bool:
    """After a resume, put each optimizer at the learning rate its schedule has now at the restored step, where the
    schedule's length differs from the one saved (an extended run); returns whether any did. A schedule of the same
    length is left alone: the resumed run stays bit-identical to an uninterrupted one."""
    import warnings

    stretched = False
    for scheduler, saved in zip(schedulers, saved_lengths, strict=False):
        if all(getattr(scheduler, key, None) == value for key, value in saved.items() if key != "_schedule_phases"):
            continue
        with warnings.catch_warnings():  # get_lr outside step() warns; here it is the closed form wanted
            warnings.simplefilter("ignore", UserWarning)
            closed_form = getattr(scheduler, "_get_closed_form_lr", scheduler.get_lr)
            rates = list(closed_form())
        for group, rate in zip(scheduler.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        scheduler._last_lr = rates
        stretched = True
    return stretched


def penalized_weights(model: nn.Module) -> list[nn.Parameter]:
    """Weight matrices and kernels only: penalizing biases and norm scales only hurts."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad and parameter.dim() > 1]


def regularization_penalties(model: nn.Module, l1: float, l2: float) -> dict[str, torch.Tensor]:
    """{'l1': l1 * sum|w|, 'l2': l2 * sum w^2} for the factors that are set; called on every step, so without
    penalties it walks no parameters."""
    if not (l1 or l2):
        return {}
    weights = penalized_weights(model)
    penalties = {}
    if l1:
        penalties["l1"] = l1 * sum(weight.abs().sum() for weight in weights)
    if l2:
        penalties["l2"] = l2 * sum(weight.pow(2).sum() for weight in weights)
    return penalties


def lightning_optimizers(optimizer_config: dict[str, Any], scheduler_config: dict[str, Any] | None,
                         parameters: Iterable[nn.Parameter], total_steps: int) -> Any:
    """What a task's `configure_optimizers` returns: the optimizer, with its scheduler dict when there is one."""
    optimizer = build_optimizer(optimizer_config, parameters)
    scheduler = build_scheduler(scheduler_config, optimizer, total_steps)
    return {"optimizer": optimizer, "lr_scheduler": scheduler} if scheduler else optimizer
