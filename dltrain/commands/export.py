"""dltrain export: write a run's model as deployable files, each verified against PyTorch on the run's data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dltrain.errors import UserError, first_line


def run(cfg: DictConfig) -> None:
    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint, run_directory_of
    from dltrain.exporters import FORMATS

    formats = list(FORMATS) if cfg.format == "all" else [cfg.format]
    if not set(formats) <= set(FORMATS):
        raise UserError(f"unknown export format '{cfg.format}'", f"choose one of: {', '.join(FORMATS)}, all")
    if not cfg.atol >= 0 or not cfg.examples >= 1:
        raise UserError(f"atol={cfg.atol}, examples={cfg.examples}: out of range",
                        "use atol >= 0 (e.g. 1e-4) and examples >= 1")
    path = find_checkpoint(cfg.run, cfg.ckpt)
    checkpoint = load_checkpoint(path, trust=cfg.trust)
    import torch

    from dltrain.assemble import build_data, build_trained_task
    from dltrain.exporters import FILE_NAMES, agreement
    from dltrain.files import staged_folder
    from dltrain.report import print_table

    metadata = checkpoint[METADATA_KEY]
    trained = metadata["config"]
    torch.manual_seed(trained["seed"])
    data = build_data(trained["data"], checkpoint)
    model = build_trained_task(checkpoint).deployable().cpu().eval()
    inputs = _codes(model, cfg.examples, trained["seed"]) if _generates(trained) else _model_inputs(data, cfg.examples)
    if getattr(model, "conditional", False):
        from dltrain.models.dcgan import OneHotConditioned

        model = OneHotConditioned(model).eval()
    detects = _detects(trained)
    if detects:
        from dltrain.models.detectors import DetectionRows, one_image_at_a_time

        model = DetectionRows(model).eval()
    with torch.no_grad():
        reference = one_image_at_a_time(model)(inputs) if detects else model(inputs)
    traced_with = inputs[:1] if detects else inputs[:2] if cfg.dynamic_batch else inputs

    run_dir = run_directory_of(path)
    output = Path(cfg.output).expanduser() if cfg.output else run_dir / "export"
    artifacts: dict[str, dict[str, Any]] = {}
    # A new export replaces the whole set: files of formats not exported this time would contradict the manifest.
    replaces = [*FILE_NAMES.values(), "manifest.json", "vocabulary.json"]
    with staged_folder(output, replaces) as staging, torch.no_grad():
        for name in formats:
            runner = _exported(name, model, traced_with, staging / FILE_NAMES[name], cfg, dynamic=not detects)
            if detects:
                runner = one_image_at_a_time(runner)
            figures = agreement(reference, runner(inputs))
            if not figures["max_scaled_diff"] <= cfg.atol:
                raise UserError(f"the {name} export differs from PyTorch by {figures['max_scaled_diff']:.3g} (relative "
                                f"where outputs exceed 1) > atol="
                                f"{cfg.atol:g} on {len(inputs)} test inputs (top-1 agreement "
                                f"{figures['top1_agreement']:.4f}); nothing was written",
                                "raise atol= if that difference is acceptable, or try another format")
            artifacts[name] = {"file": FILE_NAMES[name], **figures}
        manifest = _manifest(trained, metadata, data, path, run_dir, inputs, reference, artifacts, cfg, staging)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    what = "test inputs" if not _generates(trained) else \
        f"random codes{' with one-hot classes' if trained['model'].get('conditional') else ''}"
    if hasattr(data, "example_inputs"):
        what = f"observations of {data.env_id} under a random policy"
    rows: list[tuple[str, Any]] = [("checkpoint", str(path)), ("verified on", f"{len(inputs)} {what}")]
    numbers = trained["data"].get("targets") == "numbers"  # a regression's outputs have no top-1 class
    for name, figures in artifacts.items():
        rows.append((f"{name}: {figures['file']}", f"max |diff| {figures['max_abs_diff']:.2e}" + (
            "" if numbers else f", top-1 agreement {figures['top1_agreement']:.4f}")))
    rows.append(("output", str(output)))
    print_table("dltrain export", rows)


def _exported(name: str, model, example, path: Path, cfg: DictConfig, dynamic: bool = True):
    """The runner of the written file; a model the exporter cannot handle is a user error naming the reason."""
    from dltrain.exporters import export

    try:
        return export(name, model, example, path, cfg.opset, cfg.dynamic_batch and dynamic)
    except UserError:
        raise
    except Exception as error:  # the exporters raise many types (torch.onnx, onnx.checker, jit): all mean "cannot"
        reason = first_line(error)
        raise UserError(f"cannot export the model to {name}: {reason}; nothing was written",
                        "try another format (format=torchscript or format=state_dict) or opset=") from None


def _detects(trained: dict) -> bool:
    from dltrain.assemble import model_kind

    return model_kind(trained["model"]["_target_"]) == "detector"


def _generates(trained: dict) -> bool:
    from dltrain.assemble import model_kind

    return model_kind(trained["model"]["_target_"]) == "gan"


def _codes(model, count: int, seed: int):
    """What a GAN's generator reads: random codes (from `seed`), the generator being what is exported; a conditional
    one's codes are followed by a one-hot of the class, every class in turn (see OneHotConditioned)."""
    import torch

    from dltrain.models.dcgan import OneHotConditioned

    codes = torch.randn(count, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    if not model.conditional:
        return codes
    return OneHotConditioned.rows(codes, torch.arange(count) % model.num_classes, model.num_classes)


def _code_layout(model: dict, class_names: list[str]) -> dict[str, int]:
    """How a generator's input row is laid out: `latent_dim` random values, then a one-hot of `one_hot_classes`
    columns, in the order of the manifest's class_names (0: unconditional)."""
    return {"latent_dim": model["latent_dim"], "one_hot_classes": len(class_names) if model.get("conditional") else 0}


def _model_inputs(data, count: int):
    """The first `count` inputs of the test split, preprocessed as the model sees them (not augmented); token
    ids of batches cut to different lengths are padded to the longest."""
    import torch
    from torch.nn.functional import pad

    if hasattr(data, "example_inputs"):  # an environment: observations met on its test episodes' first seed
        return data.example_inputs(count)
    data.evaluated_split = "test"
    batches, total = [], 0
    for batch in data.test_dataloader():
        inputs, _ = data.on_after_batch_transfer(batch, 0)
        batches.append(inputs.cpu())
        total += len(inputs)
        if total >= count:
            break
    if not batches[0].is_floating_point():
        width = max(batch.shape[1] for batch in batches)
        batches = [pad(batch, (0, width - batch.shape[1])) for batch in batches]
    return torch.cat(batches)[:count]


def _manifest(trained: dict, metadata: dict, data, checkpoint: Path, run_dir: Path, inputs, outputs,
              artifacts: dict, cfg: DictConfig, staging: Path) -> dict[str, Any]:
    """What a deployment needs beside the weights: input and output layout, the preprocessing the data
    applied before the model (vocabulary in its own file), the classes, and where the model came from."""
    state = _plain(data.state_dict())
    state.pop("class_names", None)
    vocabulary = state.pop("vocabulary", None)
    if vocabulary:
        (staging / "vocabulary.json").write_text(json.dumps(vocabulary, indent=1) + "\n")
        state["vocabulary_file"] = "vocabulary.json"
    metrics_file = run_dir / "metrics.json"
    return {
        "input": {"name": "input", "shape": [1, *inputs.shape[1:]] if _detects(trained) else _input_shape(
            inputs, cfg.dynamic_batch),
                  "dtype": str(inputs.dtype).removeprefix("torch."),
                  "kind": "codes" if _generates(trained) else type(data).input_kind,
                  **(_code_layout(trained["model"], metadata["class_names"]) if _generates(trained) else {})},
        "output": {"name": "output", "shape": ["batch", *outputs.shape[1:]], "dtype": "float32",
                   "meaning": _meaning(trained, outputs)},
        "class_names": list(metadata["class_names"]),
        "spec": metadata["spec"],
        "preprocessing": {"data": trained["data"], "state": state},
        "model": trained["model"],
        "source": {"checkpoint": str(checkpoint.resolve()), "dltrain_version": metadata.get("version"),
                   "config_sha256": hashlib.sha256(json.dumps(trained, sort_keys=True).encode()).hexdigest()},
        "test_metrics": json.loads(metrics_file.read_text()) if metrics_file.is_file() else None,
        "verification": {"examples": len(inputs), "atol": cfg.atol, "split": "test"},
        "artifacts": {name: {**figures, **({"opset": cfg.opset} if name == "onnx" else {})}
                      for name, figures in artifacts.items()},
    }


def _meaning(trained: dict, outputs) -> str:
    from dltrain.assemble import model_kind, task_attribute

    model_config = trained["model"]
    if task_attribute(trained["task"].get("_target_"), "learns_from") == "environment":
        return "the value of each action (expected discounted return); the greedy policy takes the largest"
    kind = model_kind(model_config["_target_"])
    if trained["data"].get("targets") == "numbers":
        return ("the predicted value of each target (class_names), in the training data's units: the standardization "
                "of the targets is inside the model")
    if kind in ("autoencoder", "vae"):
        return "the reconstruction of the input"
    if kind == "gan":
        classes = " and one-hot classes" if model_config.get("conditional") else ""
        return f"images in [0, 1] generated from the codes{classes}"
    if kind == "recommender":
        return ("the score of each (user index, item index) pair: the predicted rating (task=rating) or a logit of an "
                "interaction (task=ranking); preprocessing.state.users and .items map indices to ids")
    if kind == "detector":
        return ("detections of one image per call, the image at exactly the input shape (the size the model was "
                "trained at): rows of x1, y1, x2, y2 (pixels of that image), score, label; unused rows are -1")
    if kind == "segmenter":
        return "logits per class and pixel (N, classes, H, W); the mask is their argmax over classes"
    return "logits per class" if outputs.dim() == 2 else "logits per frame and symbol"


def _input_shape(inputs, dynamic_batch: bool) -> list:
    shape: list = list(inputs.shape)
    if dynamic_batch:
        shape[0] = "batch"
    if not inputs.is_floating_point() and inputs.shape[1] != 2:  # token ids; (user, item) pairs are 2 wide
        shape[1] = "length"
    return shape


def _plain(value: Any) -> Any:
    """Tensors as lists, so the state can be written as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
