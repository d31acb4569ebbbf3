"""`dltrain <command> [overrides]`: dispatch to a command, turn user errors into one line and exit code 2.

Nothing heavy is imported here: `dltrain --help` and `dltrain ls` must answer instantly.
"""

from __future__ import annotations

import sys

from dltrain import __version__, garbage_collection
from dltrain.console import silence_a_closed_stdout
from dltrain.errors import UserError, debugging, report, suggestion

COMMANDS = {
    "train": "train a model: dltrain train model=mlp optimizer.lr=0.01 trainer.max_epochs=20",
    "eval": "evaluate a run's best checkpoint: dltrain eval run=runs/2026-11-24/10-00-00",
    "transfer": "reuse a trained model on new classes: dltrain transfer source=RUN_DIR data=... freeze=backbone",
    "export": "write a run's model as ONNX/TorchScript, verified: dltrain export run=DIR format=all",
    "generate": "new images from a GAN or VAE run: dltrain generate run=DIR num=64 [labels=[7]]",
    "predict": "label new inputs: dltrain predict run=DIR input=images/ (or model=export/model.onnx)",
    "ls": "list config groups and their options: dltrain ls [GROUP]",
    "runs": "a table of runs, or a sweep's leaderboard: dltrain runs [DIR] | dltrain runs compare DIR --sort test/acc",
}

HELP = f"""usage: dltrain <command> [overrides ...] [hydra flags]

Train and evaluate deep-learning models from composable YAML configs.

commands:
{chr(10).join(f"  {name:<10}{text}" for name, text in COMMANDS.items())}

Each command takes Hydra overrides (key=value, group=option, +key=value, ~key) and flags
(-m/--multirun to sweep, --cfg job to print the config, --help for the command's config groups).

examples:
  dltrain train                                   LeNet-5 on the built-in digits data
  dltrain train model=mlp optimizer=sgd optimizer.lr=0.05 scheduler=cosine
  dltrain train -m optimizer=adam,sgd,rmsprop     one run directory per job
  dltrain train debug=smoke                       one batch of train/val/test
  dltrain ls model                                every model config with a description

DLTRAIN_DEBUG=1 shows full tracebacks. Version {__version__}.
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP, end="")
        return 0
    if argv[0] == "--version":
        print(f"dltrain {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command not in COMMANDS:
            hint = suggestion(command, list(COMMANDS))
            raise UserError(f"unknown command '{command}'",
                            f"{hint + ' ' if hint else ''}commands are: {', '.join(COMMANDS)}")
        if command == "ls":
            from dltrain.commands.ls import list_configs

            return list_configs(rest)
        if command == "runs":
            from dltrain.commands.runs import runs

            return runs(rest)
        from dltrain.launch import launch

        return launch(command, rest)
    except UserError as error:
        if debugging():
            raise
        return report(error)


def entry_point() -> None:
    """The `dltrain` program (console script and `python -m dltrain`): main() with the collector set for a process
    that starts, trains and ends (see garbage_collection)."""
    garbage_collection.defer_full_collections()
    try:
        code = main()
        sys.stdout.flush()  # here, where a closed pipe is caught, not in the interpreter's exit
    except BrokenPipeError:  # the reader left (`dltrain ls | head`): nothing more to say
        silence_a_closed_stdout()
        code = 1
    finally:
        garbage_collection.skip_collections_at_exit()
    raise SystemExit(code)
