"""dltrain generate: new images from a generative run: codes drawn from a seed, decoded by the run's generator
(a GAN's, or a VAE's decoder), written as PNG files and one grid."""

from __future__ import annotations

import math
from pathlib import Path

from omegaconf import DictConfig


def run(cfg: DictConfig) -> None:
    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint
    from dltrain.errors import UserError

    if not isinstance(cfg.num, int) or isinstance(cfg.num, bool) or cfg.num < 1:
        raise UserError(f"num={cfg.num} is invalid", "pass how many images to make, e.g. num=64")
    path = find_checkpoint(cfg.run, cfg.ckpt)
    checkpoint = load_checkpoint(path, trust=cfg.trust)
    task_config = checkpoint[METADATA_KEY]["config"]["task"]

    import torch

    from dltrain.assemble import build_trained_task
    from dltrain.report import print_table
    from dltrain.tasks.generative.pictures import save_grid

    task = build_trained_task(checkpoint)
    if not hasattr(task, "sample"):
        name = task_config["_target_"].rsplit(".", 1)[-1]
        raise UserError(f"{path} is a run of {name}, which generates nothing",
                        "generate from a run of task=gan or task=vae")
    from omegaconf import OmegaConf

    requested = OmegaConf.to_container(cfg.labels) if OmegaConf.is_list(cfg.labels) else cfg.labels
    labels = requested_labels(requested, task, checkpoint[METADATA_KEY]["class_names"], cfg.num)
    task.eval()
    generator = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        images = task.sample(cfg.num, generator, **({"labels": labels} if labels is not None else {}))
    output = Path(cfg.output).expanduser()
    width = max(4, len(str(cfg.num - 1)))
    for index, image in enumerate(images):
        save_grid(image[None], output / f"{index:0{width}d}.png", columns=1, padding=0)
    grid = save_grid(images, output / "grid.png", columns=math.ceil(math.sqrt(cfg.num)))
    rows = [("checkpoint", str(path)), ("images", f"{cfg.num} of {'x'.join(map(str, images.shape[1:]))}"),
            ("seed", cfg.seed)]
    if labels is not None:
        names = checkpoint[METADATA_KEY]["class_names"]
        rows.append(("classes", ", ".join(dict.fromkeys(names[label] for label in labels.tolist()))))
    rows += [("files", f"{output}/{'0' * width}.png ..."), ("grid", str(grid))]
    print_table("dltrain generate", rows)


def requested_labels(requested, task, class_names: list[str], count: int):
    """The class of each image for a conditional generator (`labels=` by class name, cycled), None otherwise."""
    import torch

    from dltrain.errors import UserError

    conditional = getattr(task.model, "conditional", False)
    if requested is None:
        return torch.arange(count) % len(class_names) if conditional else None
    if not conditional:
        raise UserError("labels= asks for classes, but this generator was not trained with them",
                        "drop labels=, or train a class-conditional one: model=dcgan model.conditional=true")
    names = [str(name) for name in (requested if isinstance(requested, list) else [requested])]
    unknown = [name for name in names if name not in class_names]
    if unknown:
        raise UserError(f"labels: this model has no class '{unknown[0]}'",
                        f"its classes are: {', '.join(class_names)}")
    indices = torch.tensor([class_names.index(name) for name in names])
    return indices.repeat(-(-count // len(indices)))[:count]
