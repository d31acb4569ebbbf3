"""Run directories and checkpoints: where a run's checkpoint is and loading it safely.

No Lightning here: a wrong path is reported before the slow imports start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltrain.errors import UserError, first_line
from dltrain.targets import check_targets, targets

METADATA_KEY = "dltrain"
TRUSTED_PREFIXES = ("dltrain.", "torch.", "torchvision.", "torchmetrics.", "pytorch_lightning.", "lightning.")


def find_checkpoint(run: str | None, ckpt: str | None) -> Path:
    """`run=DIR` means DIR/checkpoints/best.ckpt; `ckpt=FILE` is taken as given."""
    if bool(run) == bool(ckpt):
        raise UserError("give exactly one of run=DIR or ckpt=FILE",
                        "e.g. run=runs/2026-11-24/10-00-00 (a folder made by dltrain train)")
    if ckpt:
        path = Path(ckpt).expanduser()
        if not path.is_file():
            raise UserError(f"checkpoint not found: {path}", "pass an existing .ckpt file, e.g. "
                            "ckpt=runs/2026-11-24/10-00-00/checkpoints/best.ckpt")
        return path
    folder = Path(run).expanduser()
    if not folder.is_dir():
        raise UserError(f"run directory not found: {folder}", "pass a folder made by dltrain train, e.g. "
                        "run=runs/2026-11-24/10-00-00 (ls runs/ lists them)")
    for name in ("best.ckpt", "last.ckpt"):
        if (folder / "checkpoints" / name).is_file():
            return folder / "checkpoints" / name
    raise UserError(f"run directory {folder} has no checkpoints/best.ckpt",
                    "the run did not finish an epoch; train again, or pass ckpt=FILE")


def resumable_checkpoint(run: Path) -> Path:
    """The checkpoint a resumed run continues from: last.ckpt, or best.ckpt when last.ckpt cannot be read (a
    kill during an older, non-atomic write), said in one line."""
    import logging
    import pickle

    import torch

    candidates = [run / "checkpoints" / name for name in ("last.ckpt", "best.ckpt")]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            torch.load(path, map_location="cpu", weights_only=True)
            return path
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
            reason = first_line(error)
            logging.getLogger(__name__).warning("%s cannot be read (%s): resuming from an earlier checkpoint",
                                                path, reason)
    raise UserError(f"no readable checkpoint in {run / 'checkpoints'} to resume from",
                    "start the run again without resume=")


def run_directory_of(checkpoint: Path) -> Path:
    """A checkpoint at RUN/checkpoints/x.ckpt belongs to RUN; any other one to its own folder."""
    folder = checkpoint.resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def load_checkpoint(path: Path, trust: bool = False) -> dict[str, Any]:
    """The checkpoint dict, loaded with weights_only=True; its config's classes must be trusted ones."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        reason = first_line(error)
        raise UserError(f"cannot read checkpoint {path}: {reason}",
                        "pass a checkpoint written by dltrain train (the file may be truncated)") from None
    if not isinstance(checkpoint, dict) or METADATA_KEY not in checkpoint:
        raise UserError(f"{path} is not a dltrain checkpoint (it has no run metadata)",
                        "pass a checkpoint written by dltrain train")
    if not trust:
        config = checkpoint[METADATA_KEY]["config"]
        untrusted = sorted(target for _, target in targets(config) if not target.startswith(TRUSTED_PREFIXES))
        if untrusted:
            raise UserError(f"{path} asks to build classes outside dltrain and torch: {', '.join(untrusted)}",
                            "pass trust=true only if you trust where this checkpoint came from")
        check_targets(config)
    return checkpoint
