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
    if cfg.model_file:
        if cfg.run or cfg.ckpt:
            raise UserError("give one of run=, ckpt= or model=", "e.g. dltrain generate model=export/model.onnx")
        _write(cfg, *_from_export(Path(cfg.model_file).expanduser(), cfg))
        return
    path = find_checkpoint(cfg.run, cfg.ckpt)
    checkpoint = load_checkpoint(path, trust=cfg.trust)
    task_config = checkpoint[METADATA_KEY]["config"]["task"]

    import torch

    from dltrain.assemble import build_trained_task

    task = build_trained_task(checkpoint)
    if not hasattr(task, "sample"):
        name = task_config["_target_"].rsplit(".", 1)[-1]
        raise UserError(f"{path} is a run of {name}, which generates nothing",
                        "generate from a run of task=gan or task=vae")
    labels = requested_labels(_asked(cfg), getattr(task.model, "conditional", False),
                              checkpoint[METADATA_KEY]["class_names"], cfg.num)
    task.eval()
    generator = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        images = task.sample(cfg.num, generator, labels=labels)
    _write(cfg, images, path, _named(labels, checkpoint[METADATA_KEY]["class_names"]))


def _asked(cfg: DictConfig):
    """`labels=` as plain Python: one class name, a list of them, or None."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg.labels) if OmegaConf.is_list(cfg.labels) else cfg.labels


def _named(labels, class_names: list[str]) -> str | None:
    """The classes asked for, as the summary lists them (None: an unconditional generator)."""
    return None if labels is None else ", ".join(dict.fromkeys(class_names[label] for label in labels.tolist()))


def _from_export(path: Path, cfg: DictConfig):
    """Images from the generator dltrain export wrote (ONNX Runtime or TorchScript; no Lightning), from the same
    codes a run draws for the same seed."""
    import json

    import torch

    from dltrain.errors import UserError

    manifest_file = path.parent / "manifest.json"
    if not path.is_file() or path.suffix not in (".onnx", ".pt") or not manifest_file.is_file():
        raise UserError(f"model: no exported generator '{path}' with its manifest.json",
                        "pass the model.onnx or model.pt that dltrain export wrote for a run of task=gan")
    manifest = json.loads(manifest_file.read_text())
    if manifest["input"].get("kind") != "codes":
        raise UserError(f"{path} is no generator: it reads {manifest['input'].get('kind')}",
                        "pass the export of a run of task=gan")
    layout = manifest["input"]
    classes = layout.get("one_hot_classes", 0)
    labels = requested_labels(_asked(cfg), classes > 0, manifest["class_names"], cfg.num)
    if path.suffix == ".onnx":
        from dltrain.exporters import onnx_runner

        forward = onnx_runner(path)
    else:
        forward = torch.jit.load(str(path), map_location="cpu")
    latent_dim = layout.get("latent_dim", layout["shape"][1])
    codes = torch.randn(cfg.num, latent_dim, generator=torch.Generator().manual_seed(cfg.seed))
    if labels is not None:
        from dltrain.models.dcgan import OneHotConditioned

        codes = OneHotConditioned.rows(codes, labels, classes)
    with torch.no_grad():
        return torch.as_tensor(forward(codes)), path, _named(labels, manifest["class_names"])


def _write(cfg: DictConfig, images, source: Path, classes: str | None) -> None:
    from dltrain.plots import save_grid
    from dltrain.report import print_table

    output = Path(cfg.output).expanduser()
    width = max(4, len(str(cfg.num - 1)))
    for index, image in enumerate(images):
        save_grid(image[None], output / f"{index:0{width}d}.png", columns=1, padding=0)
    grid = save_grid(images, output / "grid.png", columns=math.ceil(math.sqrt(cfg.num)))
    rows = [("from", str(source)), ("images", f"{cfg.num} of {'x'.join(map(str, images.shape[1:]))}"),
            ("seed", cfg.seed)]
    if classes is not None:
        rows.append(("classes", classes))
    rows += [("files", f"{output}/{'0' * width}.png ..."), ("grid", str(grid))]
    print_table("dltrain generate", rows)


def requested_labels(requested, conditional: bool, class_names: list[str], count: int):
    """The class of each image for a conditional generator (`labels=` by class name, cycled), None otherwise."""
    import torch

    from dltrain.errors import UserError

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
