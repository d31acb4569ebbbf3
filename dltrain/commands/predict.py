"""dltrain predict: labels and probabilities for new inputs, from a trained run or from an exported model.

From an exported model (model=FILE.onnx or FILE.pt) only the files dltrain export wrote are read, and Lightning
is never imported: what a deployment machine needs is torch, the input readers and ONNX Runtime.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dltrain.assemble import model_kind
from dltrain.errors import UserError

CHUNK = 256  # inputs per forward pass


@dataclass
class Predictor:
    """A model and what it needs to read inputs: the data's kind, config, saved state and spec."""

    forward: Callable
    kind: str | None
    data_config: dict
    state: dict
    spec: dict
    class_names: list[str]
    # What the model gives back (classifier, autoencoder, vae, gan: see assemble.model_kind), and for a trained
    # autoencoder its encoder, whose codes are written as embeddings.
    model_kind: str | None = None
    encode: Callable | None = None


def run(cfg: DictConfig) -> None:
    import torch

    from dltrain.files import write_text_atomic
    from dltrain.predict_inputs import read_inputs
    from dltrain.report import print_table

    given = [name for name in ("run", "ckpt", "model_file") if cfg.get(name)]
    if len(given) != 1:
        raise UserError("give exactly one of run=DIR, ckpt=FILE or model=FILE (.onnx or .pt from dltrain export)",
                        "e.g. dltrain predict run=runs/2026-11-24/10-00-00 input=new_images/")
    if not cfg.top_k >= 1:
        raise UserError(f"top_k={cfg.top_k} is invalid", "pass top_k=1 or more")
    predictor = _exported(Path(cfg.model_file).expanduser()) if cfg.model_file else _trained(cfg)
    if predictor.kind == "observations":
        raise UserError("an agent (task=dqn) acts in its environment; it has no inputs to label",
                        "replay its policy with dltrain eval run=DIR episodes=10 (record=episode.gif to watch it)")
    if predictor.model_kind == "gan":
        raise UserError("a GAN's generator makes images from codes; it reads no inputs to predict",
                        "make images with dltrain generate run=DIR num=64")
    if predictor.model_kind in DENSE:
        _predict_dense(predictor, cfg)
        return
    if predictor.model_kind == "recommender":
        _recommend(predictor, cfg)
        return
    names, inputs = read_inputs(predictor.kind, Path(cfg.input).expanduser(), predictor.data_config,
                                predictor.state, predictor.spec)
    with torch.no_grad():
        outputs = torch.cat([predictor.forward(chunk) for chunk in inputs.split(CHUNK)])
    if predictor.model_kind in REBUILDING:
        header, rows = _embedded(names, inputs, outputs, predictor.encode)
    elif predictor.data_config.get("targets") == "numbers":
        header, rows = _numbers(names, outputs, predictor.class_names)
    elif outputs.dim() == 3:
        header, rows = _transcribed(names, outputs, predictor.class_names)
    else:
        header, rows = _labelled(names, outputs, predictor.class_names, cfg.top_k)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *rows])
    default = "embeddings.csv" if predictor.model_kind in REBUILDING else "predictions.csv"
    output = write_text_atomic(Path(cfg.output or default).expanduser(), buffer.getvalue())

    shown = [(row[0], _shown(header, row)) for row in rows[:10]]
    more = [("...", f"{len(rows) - 10} more")] if len(rows) > 10 else []
    print_table("dltrain predict", [*shown, *more, ("predictions", f"{output} ({len(rows)} rows)")])


# Model families that answer per pixel or per object: they write pictures (see dltrain/tasks/dense/predicting.py).
DENSE = ("segmenter", "detector")


def _predict_dense(predictor: Predictor, cfg: DictConfig) -> None:
    from dltrain.report import print_table
    from dltrain.tasks.dense.predicting import predict_boxes, predict_masks, read_scenes

    if not 0 <= cfg.score_threshold <= 1:
        raise UserError(f"score_threshold={cfg.score_threshold} is invalid", "pass a score in [0, 1], e.g. 0.5")
    output = Path(cfg.output or "predictions").expanduser()
    if output.is_file():
        raise UserError(f"output={output} is a file; a dense model writes a folder of pictures",
                        "pass output=FOLDER")
    paths, sizes, inputs = read_scenes(Path(cfg.input).expanduser(), predictor.data_config, predictor.spec)
    if predictor.model_kind == "segmenter":
        rows = predict_masks(predictor.forward, paths, sizes, inputs, predictor.class_names, output)
        written = f"{output}/masks and {output}/overlays ({len(rows)} images)"
    else:
        rows = predict_boxes(predictor.forward, paths, sizes, inputs, predictor.class_names, output,
                             cfg.score_threshold)
        written = f"{output}/boxes.csv and {output}/annotated ({len(rows)} images)"
    more = [("...", f"{len(rows) - 10} more")] if len(rows) > 10 else []
    print_table("dltrain predict", [*rows[:10], *more, ("predictions", written)])


def _recommend(predictor: Predictor, cfg: DictConfig) -> None:
    from dltrain.files import write_text_atomic
    from dltrain.report import print_table
    from dltrain.tasks.recommendation.recommending import HEADER, read_users, recommend

    users = read_users(Path(cfg.input).expanduser())
    rows = recommend(predictor.forward, predictor.state, users, cfg.top_k, cfg.exclude_seen)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([HEADER, *rows])
    output = write_text_atomic(Path(cfg.output or "recommendations.csv").expanduser(), buffer.getvalue())
    firsts = [(row[0], f"{row[2]} ({row[3]}){' — ' + row[4] if row[4] else ''}") for row in rows if row[1] == "1"]
    more = [("...", f"{len(firsts) - 10} more users")] if len(firsts) > 10 else []
    print_table("dltrain predict", [*firsts[:10], *more, ("recommendations", f"{output} ({len(rows)} rows)")])


# Model families whose outputs rebuild their inputs: predict writes their codes and reconstruction errors.
REBUILDING = ("autoencoder", "vae")


def _shown(header: list[str], row: list[str]) -> str:
    if header[-1] == "reconstruction_error":
        return f"reconstruction error {float(row[-1]):.4g}" + (f", code of {len(row) - 2}" if len(row) > 2 else "")
    if header[1].startswith("prediction"):
        return ", ".join(f"{column.removeprefix('prediction_')} {value}" if len(row) > 2 else value
                         for column, value in zip(header[1:], row[1:], strict=True))
    return row[1] if len(row) == 2 else f"{row[1]} ({float(row[2]):.3f})"


def _embedded(names: list[str], inputs, outputs, encode: Callable | None) -> tuple[list[str], list[list[str]]]:
    """`input,z0..zk,reconstruction_error` (mean squared error per input): an autoencoder's code is a compact
    representation of its input, and a large error marks an input unlike the training data. An exported model
    rebuilds only: its rows hold the error alone."""
    import torch

    errors = (outputs.float() - inputs.float()).pow(2).flatten(1).mean(dim=1)
    codes = torch.cat([encode(chunk) for chunk in inputs.split(CHUNK)]) if encode is not None else None
    width = codes.shape[1] if codes is not None else 0
    header = ["input", *(f"z{index}" for index in range(width)), "reconstruction_error"]
    rows = [[name, *(f"{value:.6g}" for value in (codes[index].tolist() if codes is not None else [])),
             f"{float(errors[index]):.6g}"] for index, name in enumerate(names)]
    return header, rows


def _numbers(names: list[str], outputs, targets: list[str]) -> tuple[list[str], list[list[str]]]:
    """`input,prediction` for one target, `input,prediction_<target>,...` for several: a regression's answers, in
    the units of the training data."""
    header = ["input", *(["prediction"] if len(targets) == 1 else [f"prediction_{name}" for name in targets])]
    return header, [[name, *(f"{value:.6g}" for value in row)] for name, row in zip(names, outputs.tolist(),
                                                                                      strict=True)]


def _labelled(names: list[str], logits, class_names: list[str], top_k: int) -> tuple[list[str], list[list[str]]]:
    """`input,label,probability` (then `label_2,probability_2`, ...): the top_k classes of each input."""
    top_k = min(top_k, logits.shape[1])
    probabilities, indices = logits.float().softmax(dim=1).topk(top_k, dim=1)
    ranks = [f"_{rank}" if rank > 1 else "" for rank in range(1, top_k + 1)]
    header = ["input"] + [column for rank in ranks for column in (f"label{rank}", f"probability{rank}")]
    rows = [[name, *(value for index, probability in zip(row_indices, row_probabilities, strict=True)
                     for value in (class_names[index], f"{probability:.6f}"))]
            for name, row_probabilities, row_indices in zip(names, probabilities.tolist(), indices.tolist(),
                                                            strict=True)]
    return header, rows


def _transcribed(names: list[str], logits, alphabet: list[str]) -> tuple[list[str], list[list[str]]]:
    """`input,transcript`: models with one output per frame (task=ctc) spell their best path."""
    from dltrain.decoding import transcripts

    return ["input", "transcript"], [[name, text] for name, text in zip(names, transcripts(logits, alphabet),
                                                                        strict=True)]


def _trained(cfg: DictConfig) -> Predictor:
    from hydra.utils import get_class

    from dltrain.assemble import build_trained_task
    from dltrain.checkpoints import METADATA_KEY, find_checkpoint, load_checkpoint

    checkpoint = load_checkpoint(find_checkpoint(cfg.run, cfg.ckpt), trust=cfg.trust)
    metadata = checkpoint[METADATA_KEY]
    data_config = metadata["config"]["data"]
    data_class = get_class(data_config["_target_"])
    model = build_trained_task(checkpoint).deployable().cpu().eval()
    return Predictor(model, data_class.input_kind, data_config, checkpoint.get(data_class.__qualname__) or {},
                     metadata["spec"], list(metadata["class_names"]),
                     model_kind(metadata["config"]["model"]["_target_"]), getattr(model, "encode", None))


def _detections(run: Callable) -> Callable:
    """An exported detector takes one image per call and answers rows (see DetectionRows): as the trained one does,
    a batch in, a dict of boxes, scores and labels per image out."""
    from dltrain.models.detectors import detections_from_rows, one_image_at_a_time

    each = one_image_at_a_time(run)
    return lambda images: detections_from_rows(each(images))


def _exported(path: Path) -> Predictor:
    import torch

    manifest_file = path.parent / "manifest.json"
    if not path.is_file() or path.suffix not in (".onnx", ".pt"):
        raise UserError(f"model: no exported model file '{path}'",
                        "pass the model.onnx or model.pt that dltrain export wrote")
    if not manifest_file.is_file():
        raise UserError(f"no manifest.json beside {path}", "keep the files of dltrain export together")
    manifest = json.loads(manifest_file.read_text())
    preprocessing = manifest["preprocessing"]
    state = dict(preprocessing["state"])
    if state.get("vocabulary_file"):
        state["vocabulary"] = json.loads((path.parent / state["vocabulary_file"]).read_text())
    if path.suffix == ".onnx":
        from dltrain.exporters import onnx_runner

        forward = onnx_runner(path)
    else:
        forward = torch.jit.load(str(path), map_location="cpu")
    if model_kind(manifest["model"]["_target_"]) == "detector":
        forward = _detections(forward)
    return Predictor(forward, manifest["input"].get("kind"), preprocessing["data"], state, manifest["spec"],
                     list(manifest["class_names"]), model_kind(manifest["model"]["_target_"]))
