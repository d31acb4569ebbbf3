"""dltrain transfer: start from a trained model (a dltrain run, or torchvision weights), give it a new head for
the new data's classes, and train it there with its body frozen, partly frozen or at a lower learning rate."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    from omegaconf import OmegaConf

    started = time.perf_counter()
    config = OmegaConf.to_container(cfg, resolve=True)
    _check_schedule(config)
    transfer_and_test(config, started)


def transfer_and_test(config: dict[str, Any], started: float, resume_from: Path | None = None) -> None:
    """Build the new model from the source, freeze what `freeze` says, and train. Resuming (`resume_from`, with the
    run's own saved config) builds the same model, frozen layers and learning rates again, so that the
    checkpoint's weights and optimizer state fit them; the source must still be where the run found it."""
    from dltrain.transfer import load_source, resumed_source

    resuming = resume_from is not None
    if resuming:
        source = resumed_source(resume_from, config["transferred_from"])
    else:
        source = load_source(str(config["source"]), config.get("model"), trust=config["trust"])

    import pytorch_lightning as pl
    from pytorch_lightning.utilities import rank_zero_only

    from dltrain.assemble import build_model, build_task, check_targets, targets_for_the_task
    from dltrain.commands.train import fit_and_test, model_name
    from dltrain.finetuning import FrozenBackbone
    from dltrain.report import print_table
    from dltrain.transfer import batch_norms, frozen_blocks, frozen_parameters, head_names, load_backbone, under

    config["model"] = {key: value for key, value in source.model_config.items() if key != "weights"}
    pl.seed_everything(config["seed"], workers=True, verbose=False)
    targets_for_the_task(config)
    data = _shaped_like_source(config, source)
    check_targets(config["task"].get("_target_"), data)
    spec = data.spec
    model = build_model(config["model"], spec, config["task"].get("_target_"))
    heads = head_names(model, config["head"])
    report = load_backbone(model, source.weights, heads)
    frozen = frozen_blocks(model, config["freeze"], heads)
    frozen_names = frozen_parameters(model, frozen, report)
    frozen = [block for block in frozen if any(under(name, [block]) for name in frozen_names)]
    task = build_task(config, model, spec, data.class_names)
    parameters = dict(model.named_parameters())
    scale = float(config["backbone_lr_scale"])
    if scale != 1.0:
        task.learning_rate_scales = {name: scale for name in report.loaded if name in parameters}
    rows = [("source", f"{model_name(model)}, {source.name}"), *report.rows(model, heads),
            ("frozen", _frozen_summary(frozen, frozen_names, parameters, config["unfreeze_at_epoch"])),
            ("loaded layers' lr", f"{scale:g} x optimizer.lr"), ("classes", ", ".join(data.class_names))]
    if rank_zero_only.rank == 0 and not resuming:
        print_table("dltrain transfer: starting weights", rows)
    if not resuming:
        config["transferred_from"] = {**source.record, "loaded": len(report.loaded), "new": report.new,
                                      "mismatched": [name for name, _, _ in report.mismatched], "frozen": frozen}
    freezing = FrozenBackbone([parameters[name] for name in frozen_names], batch_norms(model, frozen, report),
                              config["unfreeze_at_epoch"])
    fit_and_test(config, data, task, started, [freezing] if frozen_names else [], command="transfer",
                 check=freezing.check, resume_from=resume_from)


def _check_schedule(config: dict[str, Any]) -> None:
    from dltrain.errors import UserError

    epoch, scale = config["unfreeze_at_epoch"], config["backbone_lr_scale"]
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1):
        raise UserError(f"unfreeze_at_epoch={epoch!r} is invalid", "pass an epoch >= 1 (0 is freeze=none), or null")
    if epoch is not None and config["freeze"] in (None, "none", False):
        raise UserError("unfreeze_at_epoch is set but nothing is frozen (freeze=none)",
                        "pass freeze=backbone (or a number of blocks) with it, or drop unfreeze_at_epoch")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise UserError(f"backbone_lr_scale={scale!r} is invalid",
                        "pass a factor above 0, e.g. 0.1 (1 trains the backbone at optimizer.lr)")


def _shaped_like_source(config: dict[str, Any], source):
    """The new data, of the kind the source model read, made to match it where the model cannot adapt:
    image channels and size (said in one line; image folders decide them without decoding, so they are read
    once); token ids from the source's vocabulary."""
    from dltrain.errors import UserError
    from dltrain.transfer import input_adaptation

    data = _data(config["data"], source)
    kind = type(data).input_kind
    if kind != source.input_kind:
        name = config["data"]["_target_"].rsplit(".", 1)[-1]
        raise UserError(f"cannot transfer {source.name}, a model of {source.input_kind}, onto {name}, which gives "
                        f"{kind or 'no known kind of inputs'}", f"choose new data of {source.input_kind}")
    if kind == "images":
        changes, line = input_adaptation(source.spec, *data.image_format(), config["data"])
        if changes:
            log.info(line)
            config["data"].update(changes)
            data = _data(config["data"], source)
    data.setup("fit")
    return data


def _data(data_config: dict[str, Any], source):
    from dltrain.assemble import instantiate

    data = instantiate(data_config, "data")
    if source.vocabulary:
        data.load_state_dict({"vocabulary": source.vocabulary})
    return data


def _frozen_summary(frozen: list[str], names: list[str], parameters: dict, unfreeze_at_epoch: int | None) -> str:
    if not names:
        return "nothing: every layer trains"
    values = sum(parameters[name].numel() for name in names)
    blocks = ", ".join(frozen) if len(frozen) <= 6 else f"{', '.join(frozen[:3])} ... {frozen[-1]}"
    until = f", until epoch {unfreeze_at_epoch}" if unfreeze_at_epoch is not None else ""
    return f"{len(frozen)} blocks ({blocks}): {len(names)} tensors, {values:,} values{until}"
