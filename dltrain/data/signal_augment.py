"""Augmentation of whole batches of 1-D signals (N, channels, steps) on the device they sit on.

Each example draws its own shift, scale and noise from torch's global generator, so `seed` makes runs repeatable.
The signals are standardized per channel first, so `noise` is in units of a channel's standard deviation.
"""

from __future__ import annotations

import torch

from dltrain.errors import UserError

SETTINGS = ("shift", "scale", "noise")


class SignalAugment:
    """Rolls each signal in time by up to `shift` of its length (circularly: what leaves one end comes back at the
    other, so no step is invented), multiplies it by a factor in [1 - scale, 1 + scale], and adds gaussian noise
    of standard deviation `noise`. All 0: off."""

    def __init__(self, shift: float = 0.0, scale: float = 0.0, noise: float = 0.0) -> None:
        for name, value in (("shift", shift), ("scale", scale), ("noise", noise)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (name != "noise" and value > 1):
                raise UserError(f"data.augment.{name}={value} is invalid",
                                f"pass {'a number >= 0' if name == 'noise' else 'a fraction in [0, 1]'}, 0 for off")
        self.shift, self.scale, self.noise = float(shift), float(scale), float(noise)

    def __bool__(self) -> bool:
        return bool(self.shift or self.scale or self.noise)

    def __call__(self, signals: torch.Tensor) -> torch.Tensor:
        count, _, steps = signals.shape
        device = signals.device
        reach = round(self.shift * steps)
        if reach:
            offsets = torch.randint(-reach, reach + 1, (count, 1, 1), device=device)
            order = (torch.arange(steps, device=device) - offsets) % steps
            signals = signals.gather(2, order.expand_as(signals))
        if self.scale:
            signals = signals * (1 + (torch.rand(count, 1, 1, device=device) * 2 - 1) * self.scale)
        if self.noise:
            signals = signals + torch.randn_like(signals) * self.noise
        return signals


def signal_augment(settings: dict | None) -> SignalAugment:
    unknown = sorted(set(settings or {}) - set(SETTINGS))
    if unknown:
        raise UserError(f"data.augment.{unknown[0]} is not an augmentation of signals",
                        f"set {', '.join(SETTINGS)}, or data.augment=null")
    return SignalAugment(**(settings or {}))
