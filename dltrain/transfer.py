"""Transfer learning without Lightning: where the weights come from, which layers are the head, what loads,
what freezes, and how new data is made to look like the data the source model learned from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dltrain.assemble import model_kind
from dltrain.errors import UserError
from dltrain.models.encoder_classifier import ENCODING_KINDS

# The dltrain builders whose models are torchvision's architectures (so torchvision's weights fit them), and
# the torchvision name each config stands for.
TORCHVISION_ARCHITECTURES: dict[str, Callable[[dict[str, Any]], str]] = {
    "dltrain.models.resnet.build_resnet": lambda config: f"resnet{config.get('depth', 20)}",
    "dltrain.models.vgg.build_vgg": lambda config: f"vgg{config.get('depth', 16)}"
                                                   + ("_bn" if config.get("batch_norm", True) else ""),
    "dltrain.models.alexnet.build_alexnet": lambda config: "alexnet",
    "dltrain.models.googlenet.build_googlenet": lambda config: "googlenet",
    "dltrain.models.detectors.FasterRCNN": lambda config: f"fasterrcnn_{config.get('backbone', 'resnet18')}_fpn",
    "dltrain.models.detectors.RetinaNet": lambda config: f"retinanet_{config.get('backbone', 'resnet18')}_fpn",
    "dltrain.models.detectors.FCOS": lambda config: f"fcos_{config.get('backbone', 'resnet18')}_fpn",
    "dltrain.models.detectors.SSDLite": lambda config: "ssdlite320_mobilenet_v3_large",
    "dltrain.models.torchvision_segmenters.FCN": lambda config: f"fcn_{config.get('backbone', 'resnet50')}",
    "dltrain.models.torchvision_segmenters.DeepLabV3": lambda config: f"deeplabv3_{config.get('backbone', 'resnet50')}",
}
# Where dltrain's wrappers keep the torchvision network whose state_dict a weights file holds.
WRAPPED_UNDER = {"dltrain.models.detectors": "detector.", "dltrain.models.torchvision_segmenters": "network."}
FREEZE_CHOICES = "backbone, none or a number of blocks"


@dataclass
class Source:
    """A trained model to start from: its architecture, what it read, and its weights."""

    name: str
    model_config: dict[str, Any]
    input_kind: str
    # in_channels / input_size the model was built for; a size of None fits any input size.
    spec: dict[str, Any]
    weights: dict[str, torch.Tensor]
    # The source's text vocabulary, so that token ids mean the same words in the new data.
    vocabulary: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)


def load_source(source: str, model_config: dict[str, Any] | None, trust: bool = False) -> Source:
    """`source=torchvision` (with a model config naming its weights) or a dltrain run directory / checkpoint."""
    weights = (model_config or {}).get("weights")
    chosen_model = {key: value for key, value in (model_config or {}).items() if key != "weights"}
    if source == "torchvision":
        return _torchvision_source(chosen_model, weights)
    if chosen_model or weights:
        raise UserError(f"source={source} brings its own model; model=/model.* apply only to source=torchvision",
                        "drop the model options (the new run keeps the source's architecture)")
    return _run_source(Path(source).expanduser(), trust)


def resumed_source(checkpoint: Path, transferred_from: dict[str, Any]) -> Source:
    """What a transfer run being resumed starts from: its own checkpoint, less the tensors the transfer made
    new, so that the same tensors count as loaded (frozen, at the backbone's learning rate) as when it began.
    The weights are the checkpoint's anyway; the original source need not exist any more. The checkpoint's config
    is the run's config.yaml, which the resumed run builds (its targets checked) in any case: it is trusted."""
    source = _run_source(checkpoint, trust=True)
    new = set(transferred_from["new"])
    source.weights = {name: tensor for name, tensor in source.weights.items() if name not in new}
    return source


def _run_source(path: Path, trust: bool) -> Source:
    from hydra.utils import get_class

    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint

    is_file = path.is_file() or (path.suffix == ".ckpt" and not path.is_dir())
    try:
        checkpoint_path = find_checkpoint(None, str(path)) if is_file else find_checkpoint(str(path), None)
    except UserError as error:
        raise UserError(error.what, "pass source=RUN_DIR (a folder made by dltrain train), source=FILE.ckpt "
                        "or source=torchvision") from None
    checkpoint = load_checkpoint(checkpoint_path, trust=trust)
    metadata = checkpoint[METADATA_KEY]
    config = metadata["config"]
    data_class = get_class(config["data"]["_target_"])
    data_state = checkpoint.get(data_class.__qualname__) or {}
    weights = {name.removeprefix("model."): tensor for name, tensor in checkpoint["state_dict"].items()
               if name.startswith("model.")}
    model_config = config["model"]
    if model_kind(model_config["_target_"]) in ENCODING_KINDS:
        model_config, weights = _encoder_classifier(model_config, weights)
    return Source(
        name=f"the model of {checkpoint_path}", model_config=model_config,
        input_kind=data_class.input_kind, spec=metadata["spec"], weights=weights,
        vocabulary=data_state.get("vocabulary"),
        record={"checkpoint": str(checkpoint_path.resolve()), "model": config["model"]["_target_"],
                "data": config["data"]["_target_"], "classes": list(metadata["class_names"]),
                "test_metrics": _metrics_beside(checkpoint_path)})


def _encoder_classifier(autoencoder: dict[str, Any], weights: dict[str, torch.Tensor]
                        ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """An autoencoder source becomes a classifier over its encoder (see models/encoder_classifier.py): the config
    that builds it, and the autoencoder's weights under the names they have there (the decoder's are skipped)."""
    options = {key: value for key, value in autoencoder.items() if key != "_target_"}
    config = {"_target_": "dltrain.models.encoder_classifier.EncoderClassifier",
              "autoencoder_target": autoencoder["_target_"], "autoencoder": options}
    return config, {f"autoencoder.{name}": tensor for name, tensor in weights.items()}


def _metrics_beside(checkpoint_path: Path) -> dict[str, float]:
    import json

    from dltrain.checkpoints import run_directory_of

    metrics = run_directory_of(checkpoint_path) / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.is_file() else {}


def _torchvision_source(model_config: dict[str, Any], weights: str | None) -> Source:
    target = model_config.get("_target_")
    if target not in TORCHVISION_ARCHITECTURES:
        raise UserError("source=torchvision needs a model torchvision has: model=resnet (depth 18/34/50/101/152), "
                        "vgg, alexnet, googlenet, fasterrcnn, retinanet, fcos, ssdlite, fcn or deeplabv3",
                        "e.g. source=torchvision model=resnet model.depth=18 model.weights=resnet18.pth")
    if not weights:
        raise UserError("source=torchvision needs model.weights: a torchvision weights file or a weights name",
                        "e.g. model.weights=/path/resnet18-f37072fd.pth, or model.weights=IMAGENET1K_V1 to download")
    architecture = TORCHVISION_ARCHITECTURES[target](model_config)
    prefix = WRAPPED_UNDER.get(target.rsplit(".", 1)[0], "")
    state = {prefix + name: tensor for name, tensor in _torchvision_weights(architecture, str(weights)).items()}
    return Source(name=f"torchvision {architecture} ({weights})", model_config=model_config, input_kind="images",
                  spec={"in_channels": 3, "input_size": None}, weights=state,
                  record={"torchvision": architecture, "weights": str(weights)})


def _torchvision_weights(architecture: str, weights: str) -> dict[str, torch.Tensor]:
    """A weights file (a state_dict, as torchvision publishes them) or a weights name that torchvision
    downloads into its cache (TORCH_HOME), the only network access here, and only when asked for by name."""
    import pickle

    path = Path(weights).expanduser()
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
            raise UserError(f"cannot read weights file {path}: {str(error).strip().splitlines()[0]}",
                            "pass a state_dict saved with torch.save, as torchvision's .pth files are") from None
        if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
            raise UserError(f"{path} holds no state_dict (names to tensors)",
                            "pass a file saved with torch.save(model.state_dict(), path)")
        return state
    if path.suffix or "/" in weights:
        raise UserError(f"model.weights: no such file '{path}'",
                        "pass a torchvision weights file, or a weights name such as IMAGENET1K_V1")
    import torchvision

    try:
        available = torchvision.models.get_model_weights(architecture)
    except ValueError:
        raise UserError(f"torchvision publishes no weights for {architecture}",
                        "choose a backbone it has weights for (e.g. model.backbone=resnet50 for its detectors), or "
                        "pass a weights file") from None
    if weights not in available.__members__:
        raise UserError(f"torchvision has no weights '{weights}' for {architecture}",
                        f"choose one of: {', '.join(available.__members__)}, or pass a weights file")
    try:
        return available[weights].get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError) as error:
        raise UserError(f"cannot download {architecture} {weights}: {str(error).strip().splitlines()[0]}",
                        f"fetch {available[weights].url} where there is internet and pass model.weights=FILE") from None


def head_names(model: nn.Module, chosen: str | list[str] | None = None) -> list[str]:
    """The layers that turn features into class scores, rebuilt for the new classes: the modules named in
    `chosen`, or those the model names (`head_modules`: a segmenter's or detector's class layers), or else the model's
    last Linear layer and the last Linear layer of each auxiliary classifier
    (torchvision names them aux*)."""
    modules = dict(model.named_modules())
    chosen = [chosen] if isinstance(chosen, str) else chosen or getattr(model, "head_modules", None)
    if chosen:
        unknown = [name for name in chosen if name not in modules or not name]
        if unknown:
            layers = ", ".join(name for name, _ in blocks(model))
            raise UserError(f"head: {type(model).__name__} has no module '{unknown[0]}'",
                            f"name modules of the model, e.g. its blocks: {layers}")
        return list(chosen)
    linears = [name for name, module in modules.items() if isinstance(module, nn.Linear)]
    if not linears:
        raise UserError(f"{type(model).__name__} has no Linear output layer to replace with a new head",
                        "name the layers to rebuild with head=[...]")
    auxiliary = {name.split(".")[0] for name in linears if name.split(".")[0].lower().startswith("aux")}
    last_of_auxiliary = [[name for name in linears if name.split(".")[0] == top][-1] for top in sorted(auxiliary)]
    return [linears[-1], *last_of_auxiliary]


def under(name: str, prefixes: list[str]) -> bool:
    """Whether `name` is one of the module names `prefixes` or inside one of them."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@dataclass
class WeightReport:
    """What happened to each tensor of the new model's state_dict (loaded, or new: in the head, absent from
    the source, or shaped differently there), and to the source's tensors that found no place."""

    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def rows(self, model: nn.Module, heads: list[str]) -> list[tuple[str, str]]:
        sizes = {**dict(model.named_parameters()), **dict(model.named_buffers())}

        def count(names: list[str]) -> str:
            return f"{len(names)} tensors, {sum(sizes[name].numel() for name in names):,} values"

        mismatched = {name for name, _, _ in self.mismatched}
        rows = [("loaded", count(self.loaded)),
                (f"new (head: {', '.join(heads)})", count([name for name in self.new if under(name, heads)]))]
        absent = [name for name in self.new if not under(name, heads) and name not in mismatched]
        if absent:
            rows.append(("new (not in the source)", ", ".join(absent)))
        for name, source_shape, own_shape in self.mismatched:
            rows.append((f"new: {name}", f"shape {_shape(source_shape)} in the source, {_shape(own_shape)} here"))
        if self.replaced:
            rows.append(("replaced (the source's head)", ", ".join(self.replaced)))
        if self.skipped:
            rows.append(("skipped (not in this model)", ", ".join(self.skipped)))
        return rows


def _shape(shape: list[int]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def load_backbone(model: nn.Module, weights: dict[str, torch.Tensor], heads: list[str]) -> WeightReport:
    """Copy every source tensor whose name and shape fit, except into the head; the rest stay as initialised.
    A source that fits nothing is an error: its architecture is not this model's."""
    report = WeightReport()
    own = model.state_dict()
    for name, tensor in own.items():
        source = weights.get(name)
        if under(name, heads) or source is None:
            report.new.append(name)
        elif source.shape != tensor.shape:
            report.mismatched.append((name, list(source.shape), list(tensor.shape)))
            report.new.append(name)
        else:
            own[name] = source.to(tensor.dtype)
            report.loaded.append(name)
    report.replaced = [name for name in weights if under(name, heads)]
    report.skipped = [name for name in weights if name not in own and not under(name, heads)]
    parameters = dict(model.named_parameters())
    if not any(name in parameters for name in report.loaded):
        raise UserError(f"none of the source's {len(weights)} weights fit {type(model).__name__} "
                        f"(e.g. '{next(iter(weights), '')}')", "the source's architecture differs from this "
                        "model's: check model= and model.depth against the weights")
    model.load_state_dict(own)
    return report


def blocks(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The model's layers in order, looking inside Sequential and ModuleList containers: the units that
    `freeze=N` counts (a convolution, a batch norm, a residual block, a recurrent layer)."""
    found = []
    for name, child in model.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            found += blocks(child, f"{prefix}{name}.")
        elif any(True for _ in child.parameters()):
            found.append((f"{prefix}{name}", child))
    return found


def frozen_blocks(model: nn.Module, freeze: Any, heads: list[str]) -> list[str]:
    """Names of the modules `freeze` keeps fixed: `backbone` (the modules the model names as its backbone, else all but
    the head: a detector's feature pyramid and towers stay trainable), `none`, or the first N blocks. A block holding a
    head (an auxiliary classifier) is frozen but for its head."""
    body = [name for name, _ in blocks(model) if not under(name, heads)]
    if freeze in (None, "none", False):
        return []
    if freeze == "backbone":
        return list(getattr(model, "backbone_modules", body))
    if isinstance(freeze, int) and not isinstance(freeze, bool) and freeze >= 1:
        if freeze > len(body):
            raise UserError(f"freeze={freeze}, but {type(model).__name__} has {len(body)} blocks before its head",
                            f"pass at most {len(body)} (or freeze=backbone); the blocks: {', '.join(body)}")
        return body[:freeze]
    raise UserError(f"freeze={freeze!r} is not a choice", f"pass freeze={FREEZE_CHOICES.replace(', ', '|')}")


def frozen_parameters(model: nn.Module, frozen: list[str], report: WeightReport) -> list[str]:
    """Loaded parameters inside the frozen modules: a newly initialised layer (a head, a first convolution
    whose shape changed) always trains, else it would stay random."""
    loaded = set(report.loaded)
    return [name for name, _ in model.named_parameters() if under(name, frozen) and name in loaded]


def batch_norms(model: nn.Module, frozen: list[str], report: WeightReport) -> list[nn.Module]:
    """Loaded BatchNorm layers inside frozen modules: kept in eval mode, so the source's running statistics
    normalize the new data instead of the few new examples' batch statistics."""
    loaded = set(report.loaded)
    return [module for name, module in model.named_modules()
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and under(name, frozen)
            and f"{name}.running_mean" in loaded]


def input_adaptation(source_spec: dict[str, Any], data_channels: int, data_size: list[int],
                     data_config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Data settings that make new images look like the source's (channels, size), and the one line that
    says so. (Other kinds of data are taken as they are: a layer whose shape then differs is reported.)"""
    changes, said = {}, []
    channels = source_spec.get("in_channels")
    if channels and data_channels != channels:
        changes["channels"] = channels
        said.append("grayscale to RGB" if channels == 3 else "RGB to grayscale")
    size = source_spec.get("input_size")
    if size and list(data_size) != list(size):
        if size[0] != size[1]:
            raise UserError(f"the source model reads {size[0]}x{size[1]} images; data.image_size makes square ones",
                            "transfer from a model trained on square images")
        changes["image_size"] = size[0]
        said.append("resized from {}x{} to {}x{}".format(*data_size, *size))
    unknown = [key for key in changes if key not in data_config]
    if unknown:
        raise UserError(f"the data must be {', '.join(said)} for this source, but data "
                        f"{data_config.get('_target_')} has no {' or '.join(unknown)} setting",
                        "prepare images with the source's channels and size, or choose an image data config")
    return changes, ("inputs adapted to the source model: " + ", ".join(said)) if said else ""
