#!/usr/bin/env bash
# The GPU checks and the GPU throughput benchmark in one run on a lent GPU machine (about 6 minutes on an H200).
#
# That machine has PyTorch, Lightning, torchmetrics and scikit-learn but not Hydra. Once, in the repository root here:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl hydra-core==1.3.2 omegaconf==2.3.0
#   .venv/bin/pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .whl     # published as a source archive only
# then run `bash benchmarks/on_device.sh` there with `.whl` carried. Arguments go to gpu_throughput.py (--compile).
# The log and both JSON results land in $OUT.
set -uo pipefail
out=${OUT:-device-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__)"
python3 benchmarks/gpu_checks.py 2>&1 | tee "$out/gpu_checks.log"
checks=${PIPESTATUS[0]}
python3 benchmarks/gpu_throughput.py --epochs 4 --repeats 1 "$@" 2>&1 | tee "$out/gpu_throughput.log"
throughput=${PIPESTATUS[0]}
cp benchmarks/results/gpu_checks.json benchmarks/results/gpu_throughput.json "$out/" 2>/dev/null
exit $((checks + throughput))
