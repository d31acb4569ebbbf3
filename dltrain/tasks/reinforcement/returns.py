"""returns.png: the learning curve of an agent, since a return is judged by its trend, not by one epoch's line."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from dltrain.files import write_atomic


class ReturnsPlot(pl.Callback):
    """Redrawn after every validation (a run stopped early still has its curve) by the first process: the return
    of every training episode (exploring), their running mean, and the greedy validation return, against
    environment steps, with the environment's solved return as a line."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not pl_module.val_curve:
            return
        solved = getattr(trainer.datamodule, "solved_return", None)
        save_returns_plot(pl_module.curve, pl_module.val_curve, solved, trainer.datamodule.env_id,
                          Path(trainer.default_root_dir) / "returns.png")


def save_returns_plot(curve: list[tuple[int, float]], val_curve: list[tuple[int, float]], solved: float | None,
                      title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4))
    if curve:
        steps, returns = np.array(curve).T
        axes.plot(steps, returns, ".", color="0.75", markersize=3, label="training episodes (exploring)")
        window = max(1, min(20, len(returns) // 5))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        axes.plot(steps[window - 1:], smooth, color="tab:blue", label=f"mean of the last {window}")
    steps, returns = np.array(val_curve).T
    axes.plot(steps, returns, "o-", color="tab:orange", label="greedy (val/return)")
    if solved is not None:
        axes.axhline(solved, color="tab:green", linestyle="--", label=f"solved ({solved:g})")
    axes.set_xlabel("environment steps")
    axes.set_ylabel("return")
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    pyplot.close(figure)
    return path
