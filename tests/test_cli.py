"""The command line itself: instant help and listing, dispatch, Hydra flags."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from dltrain.configs import group_options, groups


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_help_and_ls_import_neither_torch_nor_lightning():
    for call in ("main(['--help'])", "main(['ls'])", "main(['ls', 'model'])"):
        loaded = _modules_after(f"from dltrain.cli import main\n{call}")
        assert "torch" not in loaded and "pytorch_lightning" not in loaded and "hydra" not in loaded, call


def test_help_lists_the_subcommands(dltrain):
    result = dltrain("--help")
    assert result.returncode == 0
    for command in ("train", "eval", "ls"):
        assert f"  {command} " in result.stdout


def test_ls_lists_every_group_with_descriptions(dltrain):
    result = dltrain("ls")
    assert result.returncode == 0
    for group in ("model", "data", "task", "optimizer", "scheduler", "callbacks", "logger", "trainer",
                  "experiment", "debug"):
        assert group in groups()
        assert f"{group}  (choose with {group}=NAME" in result.stdout
    assert re.search(r"^ \* lenet +LeNet-5", result.stdout, re.MULTILINE)


def test_ls_one_group(dltrain):
    result = dltrain("ls", "optimizer")
    assert result.returncode == 0
    option_lines = [line for line in result.stdout.splitlines()[1:] if line[3:4].strip()]  # not a wrapped line
    listed = [line[3:].split()[0] for line in option_lines]
    assert listed == group_options("optimizer") == ["adadelta", "adagrad", "adam", "adamw", "rmsprop", "sgd"]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`dltrain ls | head -1`: the pipe closes while dltrain still writes. The pipe holds one page, so that
    dltrain's ~17 KB cannot all be written before the reader leaves (a 64 KiB pipe took them whole at times, and
    the program then ended well, exit 0)."""
    import fcntl

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen([sys.executable, "-m", "dltrain", "ls"], cwd=tmp_path, stdout=write_end,
                               stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        assert reader.readline().startswith("callbacks")
    assert process.wait(timeout=60) == 1
    assert process.stderr.read() == ""


def test_a_training_whose_reader_left_goes_on_without_a_console(monkeypatch, capsys):
    """`dltrain train | head -2`: the epoch lines after the pipe closed are dropped, not a traceback each."""
    import logging

    from dltrain import console

    class ClosedPipe:
        def write(self, text: str) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    silenced = []
    monkeypatch.setattr(console, "silence_a_closed_stdout", lambda: silenced.append(True))
    handler = console._Console(ClosedPipe())
    handler.handle(logging.LogRecord("dltrain.callbacks", logging.INFO, __file__, 1, "epoch 3/30", None, None))

    assert silenced == [True]
    assert capsys.readouterr().err == ""


def test_ls_shows_each_options_first_sentence_whole(dltrain):
    result = dltrain("ls", "trainer")
    shown = " ".join(result.stdout.split())
    assert ("ddp Data parallel over GPUs (Lightning's DDP): every GPU of the node (trainer.devices=4 for four), "
            "trainer.num_nodes for several nodes (under SLURM: hydra/launcher=slurm). ") in shown  # over two lines
    assert "One run directory" not in shown  # its second sentence


def test_a_description_ends_with_its_first_sentence():
    from dltrain.configs import first_sentence

    assert first_sentence("NeuMF with NCF's protocol (He et al. 2017): 4 negatives, e.g. 1.5e-3 lr. Not measured.") \
        == "NeuMF with NCF's protocol (He et al. 2017): 4 negatives, e.g. 1.5e-3 lr."
    assert first_sentence("The recipe of He et al. sec. 4.2, SpecAugment. data.root holds clips.") \
        == "The recipe of He et al. sec. 4.2, SpecAugment."
    assert first_sentence("Optuna's TPE sampler over the learning rate: dltrain train -m hparams_search=optuna") \
        == "Optuna's TPE sampler over the learning rate: dltrain train -m hparams_search=optuna"


def test_every_config_has_a_description():
    from dltrain.configs import description

    for group in groups():
        for option in group_options(group):
            assert description(group, option), f"conf/{group}/{option}.yaml needs an opening # description"


def test_cfg_job_prints_the_composed_config(dltrain, tmp_path):
    result = dltrain("train", "model=mlp", "optimizer=sgd", "optimizer.lr=0.05", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    assert not any(tmp_path.iterdir())  # printing a config claims no run directory
    assert "_target_: dltrain.models.mlp.MLP" in result.stdout
    assert "_target_: torch.optim.SGD" in result.stdout
    assert "lr: 0.05" in result.stdout


def test_train_help_shows_config_groups(dltrain):
    result = dltrain("train", "--help")
    assert result.returncode == 0
    assert ("model: alexnet, autoencoder, autorec, cnn1d, conv_autoencoder, dcgan, deeplabv3, encoder_classifier, "
            "fasterrcnn, fcn, fcos, gmf, googlenet, gru, lenet, lstm, mf, mlp, ncf_mlp, neumf, resnet, retinanet, "
            "rnn, ssdlite, unet, vae, vgg") in result.stdout


def test_version(dltrain):
    result = dltrain("--version")
    assert result.returncode == 0 and result.stdout.startswith("dltrain ")


def test_the_configuration_reference_names_every_option():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    for group in groups():
        assert f"## {group}" in page, group
        for option in group_options(group):
            assert f"`{option}`" in page, f"docs/configuration.md does not describe {group}={option}"


def test_the_configuration_reference_names_every_key_of_every_command():
    """eval, export, predict and transfer have keys of their own (run=, format=, source= ...): each is in the
    command's section of docs/configuration.md."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "configuration.md").read_text()
    for command in ("eval", "export", "predict", "transfer"):
        section = page.split(f"## {command} (`conf/{command}.yaml`)", 1)[1].split("\n## ", 1)[0]
        keys = [key for key in yaml.safe_load((root / "conf" / f"{command}.yaml").read_text())
                if key not in ("defaults", "hydra")]
        for key in keys:
            assert f"`{key}" in section, f"docs/configuration.md, {command}: `{key}` is not described"
