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
    from dltrain.memory_layout import apply_layout
    from dltrain.report import print_table, stage_metrics

    metadata = checkpoint[METADATA_KEY]
    trained = metadata["config"]

    if cfg.seed is None:
        cfg.seed = trained["seed"]
    requested = OmegaConf.to_container(cfg.data, resolve=True)
    split = requested.pop("split")
    chose_other_data = HydraConfig.get().runtime.choices.get("data") is not None
    if not chose_other_data:
        _check_data_keys(requested, trained["data"])
    data_config = requested if chose_other_data else OmegaConf.to_container(
        OmegaConf.merge(trained["data"], requested))
    pl.seed_everything(trained["seed"], verbose=False)
    data = build_data(data_config, checkpoint)
    if data.spec != metadata["spec"]:
        raise UserError(f"the data gives {data.spec} but {path} was trained on {metadata['spec']}",
                        "evaluate on data with the same channels, input size and number of classes")

    _replaying(cfg, data, path)
    task = build_trained_task(checkpoint)
    task.eval_stage = split
    # Whatever the run trained on, evaluate on what this machine has, at the run's precision and in its memory layout
    # (the same kernels: the run's test figures come back to the last digit).
    apply_layout(trained["trainer"].get("channels_last", False), task, (trained.get("model") or {}).get("_target_"))
    trainer = build_trainer({"accelerator": "auto", "devices": 1,
                             "precision": trained["trainer"].get("precision", "32-true")}, logger=False,
                            enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    examples = data.split_size(split)
    data.evaluated_split = split
    trainer.test(task, datamodule=data, verbose=False)

    metrics = stage_metrics(trainer.callback_metrics, split)
    if cfg.judge:
        metrics.update(_judged(cfg, task, data, split, metadata, path))
    output = Path(cfg.output).expanduser() if cfg.output else run_directory_of(path) / "eval.json"
    write_json_atomic(output, metrics)
    unit = ("episode" if hasattr(data, "episodes") else "example") + ("s" if examples != 1 else "")
    rows = [("checkpoint", str(path)), ("split", f"{split} ({examples} {unit})")]
    rows += list(metrics.items())
    rows.append(("metrics", str(output)))
    if cfg.record:
        rows.append(("recording", str(_recorded(Path(cfg.record).expanduser(), task, data))))
    if hasattr(task, "per_class_figures"):
        rows.append(("per class", str(_per_class_table(metrics, split, task, output.with_name("per_class.csv")))))
    rows += [(what, str(path)) for what, path in task.evaluation_pictures(output.parent)]
    print_table("dltrain eval", rows)


def _per_class_table(metrics: dict[str, float], split: str, task, path: Path) -> Path:
    """Dense tasks' figures per class (IoU and Dice, or AP) as a CSV table: class, then one column per figure."""
    import csv
    import io

    from dltrain.files import write_text_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *task.per_class_figures])
    for name in task.class_names:
        writer.writerow([name, *(f"{metrics.get(f'{split}/{figure}_{name}', float('nan')):.4f}"
                                 for figure in task.per_class_figures)])
    return write_text_atomic(path, buffer.getvalue())


def _judged(cfg: DictConfig, task, data, split: str, metadata: dict, path: Path) -> dict[str, float]:
    """The quality figures of a generator's images, by a classifier run of the same data (see judging.py)."""
    import torch

    from dltrain.assemble import build_trained_task
    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint
    from dltrain.commands.generate import requested_labels
    from dltrain.errors import UserError
    from dltrain.tasks.generative.judging import Judge, check_same_data, judged

    if not hasattr(task, "sample"):
        raise UserError(f"judge= measures the images of a generator, but {path} generates none",
                        "pass run= a run of task=gan or task=vae")
    if not isinstance(cfg.judge_samples, int) or cfg.judge_samples < 2:
        raise UserError(f"judge_samples={cfg.judge_samples} is invalid", "pass how many images to judge, e.g. 1000")
    where = Path(str(cfg.judge)).expanduser()
    judge_path = find_checkpoint(None, str(where)) if where.suffix == ".ckpt" else find_checkpoint(str(where), None)
    judge_checkpoint = load_checkpoint(judge_path, trust=cfg.trust)
    judge_metadata = judge_checkpoint[METADATA_KEY]
    class_names = metadata["class_names"]
    check_same_data(judge_metadata["config"], judge_metadata["class_names"], metadata["config"], class_names,
                    judge_path)
    judge = Judge(build_trained_task(judge_checkpoint).model, judge_metadata["spec"], judge_metadata["config"]["data"])
    real = torch.cat([data.on_after_batch_transfer(batch, 0)[0] for batch in data.loader(split)])
    _, real_features = judge(real)
    generator = torch.Generator().manual_seed(metadata["config"]["seed"])
    count = cfg.judge_samples
    labels = requested_labels(None, getattr(task.model, "conditional", False), class_names, count)
    with torch.no_grad():
        samples = task.sample(count, generator, labels=labels)
    figures = judged(judge, samples, real_features, class_names, labels)
    noise = torch.rand(count, *samples.shape[1:], generator=generator)
    figures.update(judged(judge, noise, real_features, class_names, labels, prefix="judge_noise", shares=False))
    return figures


def _replaying(cfg: DictConfig, data, path: Path) -> None:
    """episodes= and record= are for an agent's run, whose data is an environment; episodes= sets how many greedy
    episodes the evaluation plays."""
    from dltrain.errors import UserError

    if not hasattr(data, "episodes"):
        if cfg.episodes is not None or cfg.record:
            raise UserError(f"episodes= and record= replay an agent's policy, but {path} was trained on data, not on "
                            "an environment", "drop them, or pass run= a run of task=dqn")
        return
    if cfg.episodes is not None:
        if isinstance(cfg.episodes, bool) or not isinstance(cfg.episodes, int) or cfg.episodes < 1:
            raise UserError(f"episodes={cfg.episodes} is invalid", "pass how many episodes to play, e.g. episodes=100")
        data.test_episodes = cfg.episodes
    if cfg.record and Path(str(cfg.record)).suffix.lower() != ".gif":
        raise UserError(f"record={cfg.record}: the recording is an animated GIF", "name a .gif file, e.g. "
                        "record=episode.gif")


def _recorded(path: Path, task, data) -> Path:
    """The first test episode again (the same seed), rendered frame by frame into an animated GIF."""
    from PIL import Image

    from dltrain.data.environment import TEST_SEEDS
    from dltrain.files import write_atomic

    frames: list = []
    data.episodes(task.greedy, 1, TEST_SEEDS, record=frames.append)
    images = [Image.fromarray(frame) for frame in frames]
    fps = int(data.frames_per_second())
    write_atomic(path, lambda temporary: images[0].save(temporary, format="GIF", save_all=True,
                                                          append_images=images[1:], duration=round(1000 / fps),
                                                          loop=0))
    return path


def _check_data_keys(requested: dict, trained: dict) -> None:
    """data.KEY=VALUE changes a setting of the run's own data config: a key it lacks is a slip of the keyboard."""
    from dltrain.errors import UserError, suggestion

    settings = [f"data.{key}" for key in ("split", *trained) if key != "_target_"]
    for key in requested:
        if key not in trained:
            hint = suggestion(f"data.{key}", settings)
            raise UserError(f"data.{key} is not a setting of the run's data ({trained.get('_target_')})",
                            f"{hint + ' ' if hint else ''}its settings are: {', '.join(settings)}")
