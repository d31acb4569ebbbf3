"""dltrain eval: rebuild a run's model from its checkpoint and measure it on a data split."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig


def run(cfg: DictConfig) -> None:
    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint, run_directory_of

    path = find_checkpoint(cfg.run, cfg.ckpt)
    checkpoint = load_checkpoint(path, trust=cfg.trust)
    # Lightning is imported only after the checkpoint has loaded: a wrong path is reported in a second, not ten.
    import pytorch_lightning as pl
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from dltrain.assemble import build_data, build_trained_task, build_trainer
    from dltrain.errors import UserError
    from dltrain.files import write_json_atomic
    from dltrain.plots import save_confusion_matrix
    from dltrain.report import print_table, stage_metrics

    metadata = checkpoint[METADATA_KEY]
    trained = metadata["config"]

    if cfg.seed is None:
        cfg.seed = trained["seed"]
    requested = OmegaConf.to_container(cfg.data, resolve=True)
    split = requested.pop("split")
    chose_other_data = HydraConfig.get().runtime.choices.get("data") is not None
    data_config = requested if chose_other_data else OmegaConf.to_container(
        OmegaConf.merge(trained["data"], requested))
    pl.seed_everything(trained["seed"], verbose=False)
    data = build_data(data_config, checkpoint)
    if data.spec != metadata["spec"]:
        raise UserError(f"the data gives {data.spec} but {path} was trained on {metadata['spec']}",
                        "evaluate on data with the same channels, input size and number of classes")

    task = build_trained_task(checkpoint)
    task.eval_stage = split
    # Whatever the run trained on, evaluate on what this machine has, at the run's precision.
    trainer = build_trainer({"accelerator": "auto", "devices": 1,
                             "precision": trained["trainer"].get("precision", "32-true")}, logger=False,
                            enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    examples = data.split_size(split)
    data.evaluated_split = split
    trainer.test(task, datamodule=data, verbose=False)

    metrics = stage_metrics(trainer.callback_metrics, split)
    output = Path(cfg.output).expanduser() if cfg.output else run_directory_of(path) / "eval.json"
    write_json_atomic(output, metrics)
    rows = [("checkpoint", str(path)), ("split", f"{split} ({examples} examples)")]
    rows += list(metrics.items())
    rows.append(("metrics", str(output)))
    if hasattr(task, "confusion"):
        figure = save_confusion_matrix(task.confusion.compute().cpu(), data.class_names,
                                       output.with_name("confusion_matrix.png"))
        rows.append(("confusion matrix", str(figure)))
    print_table("dltrain eval", rows)
