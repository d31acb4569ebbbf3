"""How good a generator's images are, measured with what is here (no Inception weights offline): a dltrain
classifier of the same data (`judge=`) looks at them.

- confident: the share of samples the judge assigns to a class with probability >= 0.9 (recognisable images);
- coverage: each class's share of the samples (a class far below 1/classes is a sign of mode collapse);
- frechet: the Fréchet distance between the judge's penultimate features of real and generated images. It is the
  FID formula (Heusel et al. 2017) on another network, so it compares only runs judged by the same judge;
- agreement (class-conditional generators): the share of samples the judge puts in the class they were asked for.
Each figure is also given for uniform noise images (`*_noise`): what the judge makes of no generator at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dltrain.assemble import model_kind
from dltrain.data.image_pipeline import ImageBatchPipeline
from dltrain.errors import UserError

CONFIDENT = 0.9


class Judge:
    """A trained classifier with the input pipeline of its own run, and a hook on its head's input (the features)."""

    def __init__(self, model: nn.Module, spec: dict[str, Any], data_config: dict[str, Any]) -> None:
        from dltrain.transfer import head_names

        self.model = model.eval()
        size = spec["input_size"]
        self.pipeline = ImageBatchPipeline(size[0] if len(size) == 2 and size[0] == size[1] else None, None,
                                           data_config.get("normalize"), spec["in_channels"])
        head = dict(model.named_modules())[head_names(model)[0]]
        self.features: list[torch.Tensor] = []
        head.register_forward_pre_hook(lambda module, inputs: self.features.append(inputs[0].detach().flatten(1)))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and penultimate features of images in [0, 1]."""
        self.features = []
        probabilities = [torch.softmax(self.model(self.pipeline(part, training=False)), dim=1)
                         for part in images.split(batch_size)]
        return torch.cat(probabilities), torch.cat(self.features)


def frechet_distance(real: torch.Tensor, generated: torch.Tensor) -> float:
    """||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) of two sets of feature vectors."""
    from scipy import linalg

    first, second = real.double().cpu().numpy(), generated.double().cpu().numpy()
    mean_gap = first.mean(axis=0) - second.mean(axis=0)
    covariance_first, covariance_second = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    root, _ = linalg.sqrtm(covariance_first @ covariance_second, disp=False)
    root = root.real
    return float(mean_gap @ mean_gap + np.trace(covariance_first + covariance_second - 2 * root))


def judged(judge: Judge, generated: torch.Tensor, real_features: torch.Tensor, class_names: list[str],
           labels: torch.Tensor | None = None, prefix: str = "judge", shares: bool = True) -> dict[str, float]:
    """The figures of the module's docstring for `generated`, under `prefix`; `shares`: each class's share too."""
    probabilities, features = judge(generated)
    confidence, chosen = probabilities.max(dim=1)
    share = torch.bincount(chosen, minlength=len(class_names)).double() / len(chosen)
    figures = {f"{prefix}/confident": float((confidence >= CONFIDENT).double().mean()),
               f"{prefix}/coverage_min": float(share.min()),
               f"{prefix}/frechet": frechet_distance(real_features, features)}
    if labels is not None:
        figures[f"{prefix}/agreement"] = float((chosen.cpu() == labels.cpu()).double().mean())
    if shares:
        figures.update({f"{prefix}/share_{name}": float(value) for name, value in zip(class_names, share, strict=True)})
    return figures


def check_same_data(judge_config: dict[str, Any], judge_classes: list[str], config: dict[str, Any],
                    class_names: list[str], judge_path: Any) -> None:
    """A judge knows the classes of the data it learned: it can judge only images meant to be of those."""
    ours, theirs = config["data"]["_target_"], judge_config["data"]["_target_"]
    if ours != theirs or list(judge_classes) != list(class_names):
        raise UserError(f"the judge {judge_path} learned {theirs.rsplit('.', 1)[-1]} ({', '.join(judge_classes)}), "
                        f"but this generator {ours.rsplit('.', 1)[-1]} ({', '.join(class_names)})",
                        "judge with a classifier trained on the same data and classes (dltrain train data=...)")
    if model_kind(judge_config["model"]["_target_"]) != "classifier":
        raise UserError(f"the judge {judge_path} is no classifier run", "pass judge= a run of dltrain train "
                        "(task=classification) on the same data")
