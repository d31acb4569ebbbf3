"""Export: every model family to ONNX and TorchScript, checked against PyTorch by running the written files;
failures (unsupported op, disk error, tolerance) leave nothing behind; the CLI writes a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from dltrain.errors import UserError
from dltrain.exporters import agreement, export
from dltrain.files import staged_folder
from tests.conftest import assert_user_error, only_run_dir

FAMILIES = [  # (id, conf/model option, settings, input shape)
    ("lenet", "lenet", {}, (1, 16, 16)),
    ("mlp", "mlp", {"batch_norm": True, "dropout": 0.2}, (1, 8, 8)),
    ("resnet20", "resnet", {"depth": 20}, (3, 32, 32)),
    ("resnet18", "resnet", {"depth": 18}, (3, 32, 32)),
    ("vgg11", "vgg", {"depth": 11, "batch_norm": True}, (3, 32, 32)),
    ("alexnet", "alexnet", {}, (3, 32, 32)),
    ("googlenet", "googlenet", {"aux_logits": True}, (3, 32, 32)),
    ("rnn", "rnn", {}, (1, 8, 8)),
    ("lstm-bi", "lstm", {"bidirectional": True, "num_layers": 2, "pooling": "mean"}, (1, 8, 8)),
    ("gru-ctc", "gru", {"pooling": "none"}, (1, 50, 20)),
]


def _model(option: str, settings: dict, shape: tuple[int, ...]) -> torch.nn.Module:
    from dltrain.assemble import build_model
    from dltrain.configs import config_dir

    config = OmegaConf.to_container(OmegaConf.load(Path(config_dir()) / "model" / f"{option}.yaml"))
    torch.manual_seed(0)
    spec = {"in_channels": shape[0], "input_size": list(shape[1:]), "num_classes": 10}
    return build_model({**config, **settings}, spec).eval()


@pytest.mark.parametrize("option, settings, shape", [family[1:] for family in FAMILIES],
                         ids=[family[0] for family in FAMILIES])
@pytest.mark.parametrize("format_name", ["onnx", "torchscript"])
def test_every_family_exports_and_the_file_agrees_with_pytorch(tmp_path: Path, option, settings, shape,
                                                               format_name):
    model = _model(option, settings, shape)
    example, batch = torch.randn(2, *shape), torch.randn(5, *shape)  # another batch size than traced
    with torch.no_grad():
        runner = export(format_name, model, example, tmp_path / "model", opset=18, dynamic_batch=True)
        figures = agreement(model(batch), runner(batch))
    assert figures["max_abs_diff"] < 1e-4 and figures["top1_agreement"] == 1.0, figures


@pytest.mark.parametrize("format_name", ["onnx", "torchscript"])
def test_a_text_model_exports_for_any_length(tmp_path: Path, format_name: str):
    from dltrain.assemble import build_model

    torch.manual_seed(0)
    model = build_model({"_target_": "dltrain.models.recurrent.RecurrentNet", "cell": "lstm", "bidirectional": True,
                         "num_layers": 2}, {"in_channels": 1, "input_size": [50], "num_classes": 3, "vocab_size": 40})
    example = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 5]])
    texts = torch.randint(1, 40, (6, 11))
    texts[0, 3:] = 0
    texts[1, 8:] = 0
    with torch.no_grad():
        runner = export(format_name, model.eval(), example, tmp_path / "model", opset=18, dynamic_batch=True)
        figures = agreement(model(texts), runner(texts))
    assert figures["max_abs_diff"] < 1e-4 and figures["top1_agreement"] == 1.0, figures


def test_an_unsupported_operation_is_a_user_error(tmp_path: Path):
    from dltrain.commands.export import _exported

    class Spectral(torch.nn.Module):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return torch.fft.fft(inputs).abs()

    config = OmegaConf.create({"opset": 18, "dynamic_batch": True})
    with pytest.raises(UserError, match="cannot export the model to onnx: .*nothing was written"):
        _exported("onnx", Spectral(), torch.randn(2, 8), tmp_path / "model.onnx", config)


def test_a_failure_while_writing_leaves_no_files(tmp_path: Path):
    target = tmp_path / "deploy"
    with pytest.raises(OSError), staged_folder(target) as staging:
        (staging / "model.onnx").write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "model.onnx").write_text("old")
    with staged_folder(target) as staging:
        (staging / "model.onnx").write_text("new")
    assert [path.name for path in tmp_path.iterdir()] == ["deploy"] and (target / "model.onnx").read_text() == "new"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    from tests.conftest import run_in_process

    root = tmp_path_factory.mktemp("export")
    result = run_in_process("train", "debug=smoke", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return only_run_dir(root)


def test_export_all_writes_verified_files_and_a_manifest(dltrain, trained_run: Path, tmp_path: Path):
    result = dltrain("export", f"run={trained_run}", "format=all", "output=deploy")
    assert result.returncode == 0, result.stderr[-3000:]
    deploy = tmp_path / "deploy"
    assert sorted(path.name for path in deploy.iterdir()) == ["manifest.json", "model.onnx", "model.pt",
                                                              "state_dict.pt"]
    manifest = json.loads((deploy / "manifest.json").read_text())
    assert manifest["input"] == {"name": "input", "shape": ["batch", 1, 16, 16], "dtype": "float32", "kind": "images"}
    assert manifest["class_names"] == [str(digit) for digit in range(10)]
    assert manifest["preprocessing"]["data"]["image_size"] == 16
    assert manifest["test_metrics"] == json.loads((trained_run / "metrics.json").read_text())
    for name in ("onnx", "torchscript", "state_dict"):
        assert manifest["artifacts"][name]["max_abs_diff"] <= 1e-4
        assert manifest["artifacts"][name]["top1_agreement"] == 1.0
    assert "top-1 agreement 1.0000" in result.stdout
    (deploy / "notes.txt").write_text("mine")
    result = dltrain("export", f"run={trained_run}", "format=torchscript", "output=deploy")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in deploy.iterdir()) == ["manifest.json", "model.pt", "notes.txt"]


def test_export_beyond_tolerance_fails_and_writes_nothing(dltrain, trained_run: Path, tmp_path: Path):
    result = dltrain("export", f"run={trained_run}", "format=onnx", "atol=1e-12", "output=deploy")
    assert_user_error(result, "the onnx export differs from PyTorch by", "nothing was written", "raise atol=")
    assert list(tmp_path.iterdir()) == []


def test_onnx_without_its_packages_names_the_extra(monkeypatch, tmp_path: Path):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError, match=r"needs the 'onnxruntime' package.*dltrain\[export\]"):
        export("onnx", torch.nn.Linear(3, 2), torch.randn(2, 3), tmp_path / "model.onnx", opset=18, dynamic_batch=True)
