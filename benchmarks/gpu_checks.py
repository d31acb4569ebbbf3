"""The GPU path of `dltrain train`, checked end to end on a machine that has one (CI has none).

Each check is a whole dltrain process in a scratch folder, as a user would run it:
  resnet      trainer=gpu trains a ResNet-20 on the digits at 32x32 for 5 epochs: bf16 mixed precision and
              channels-last on the header, test accuracy >= 0.9
  eval        `dltrain eval` of that run gives its test figures back (the same precision and layout; within 1e-3 on
              a GPU, whose autotuned kernels are not deterministic)
  lenet       the default LeNet-5 run on the GPU reaches 0.9 test accuracy
  diverged    lr 1e12 stops with exit code 3 and the divergence line (on a GPU: from the check read every
              log_every_n_steps steps)
  export      the GPU-trained run exports to ONNX, verified against the model
Prints each check's verdict, writes benchmarks/results/gpu_checks.json; the exit code counts the failed checks.
Run on a GPU: python3 benchmarks/gpu_checks.py       Check on a CPU: python3 benchmarks/gpu_checks.py --device cpu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_checks.json"


def dltrain(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dltrain", *arguments], cwd=folder, capture_output=True, text=True)


def test_figures(folder: Path, run: str, name: str = "metrics") -> dict[str, float]:
    return json.loads((folder / run / f"{name}.json").read_text(encoding="utf-8"))


def checks(folder: Path, device: str) -> dict[str, tuple[bool, str]]:
    trainer = ["trainer=gpu"] if device == "cuda" else ["trainer=cpu", "trainer.precision=bf16-mixed"]
    resnet = ["model=resnet", "data=digits", "data.image_size=32", *trainer]
    verdicts: dict[str, tuple[bool, str]] = {}

    result = dltrain(folder, "train", *resnet, "trainer.max_epochs=5", "hydra.run.dir=resnet")
    header = next((line.strip() for line in result.stdout.splitlines() if line.strip().startswith("device")), "")
    accuracy = test_figures(folder, "resnet")["test/acc"] if result.returncode == 0 else None
    verdicts["resnet"] = (result.returncode == 0 and "precision bf16-mixed; channels-last" in header
                          and accuracy >= 0.9, f"{header}; test/acc {accuracy}" if accuracy is not None
                          else result.stderr[-1500:])

    result = dltrain(folder, "eval", "run=resnet")
    if result.returncode == 0 and verdicts["resnet"][0]:
        ours, theirs = test_figures(folder, "resnet", "eval"), test_figures(folder, "resnet")
        worst = max(abs(ours[key] - theirs[key]) for key in theirs)
        # trainer=gpu lets cuDNN pick its fastest (nondeterministic) kernels: bf16 rounding may differ a little.
        verdicts["eval"] = (worst <= (1e-3 if device == "cuda" else 1e-6),
                            f"largest difference from the run's test figures {worst:.2e}")
    else:
        verdicts["eval"] = (False, result.stderr[-1500:] or "the run to evaluate failed")

    result = dltrain(folder, "train", *trainer, "trainer.max_epochs=5", "hydra.run.dir=lenet")
    accuracy = test_figures(folder, "lenet")["test/acc"] if result.returncode == 0 else None
    verdicts["lenet"] = (accuracy is not None and accuracy >= 0.9,
                         f"test/acc {accuracy}" if accuracy is not None else result.stderr[-1500:])

    result = dltrain(folder, "train", *resnet, "optimizer=sgd", "optimizer.lr=1e12", "trainer.max_epochs=2",
                     "hydra.run.dir=diverged")
    line = result.stderr.strip()
    expected = "became inf or nan in the last" if device == "cuda" else "training diverged at epoch 1"
    verdicts["diverged"] = (result.returncode == 3 and expected in line, f"exit {result.returncode}: {line[-500:]}")

    result = dltrain(folder, "export", "run=resnet", "format=onnx")
    verdicts["export"] = (result.returncode == 0, (result.stdout if result.returncode == 0 else result.stderr)[-800:])
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        verdicts = checks(Path(folder), args.device)
    for name, (passed, detail) in verdicts.items():
        print(f"{'passed' if passed else 'FAILED':<7} {name:<9} {detail.strip()}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({name: {"passed": passed, "detail": detail}
                                   for name, (passed, detail) in verdicts.items()}, indent=2) + "\n")
    sys.exit(sum(not passed for passed, _ in verdicts.values()))


if __name__ == "__main__":
    main()
