#!/usr/bin/env bash
# The GPU path of auto-labelling, for a session that has a CUDA machine: check CUDA, run the GPU tests, then
# benchmark a run against a bare predict loop on the GPU (and on the CPU for reference).
#
# Needs labelgate's environment with the inference extra (pip install -e '.[inference,dev]'), its python
# given as PYTHON (default .venv/bin/python). Figures land in $OUT (default bench/results) as JSON.
#     bash bench/gpu_check.sh            # about 3-5 minutes, most of it the first tiny-model training
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
RESULTS="${OUT:-bench/results}"
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1

"$PY" - <<'PYEOF'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("no CUDA device visible: this script checks the GPU path")
print(f"CUDA {torch.version.cuda}: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
PYEOF

# Where the tests keep the tiny model (tests/inference/conftest.py model_cache): trained once for both.
CACHE="${LABELGATE_TEST_MODEL_CACHE:-$HOME/.cache/labelgate/test-models-$(sha256sum pyproject.toml | cut -c1-16)}"
"$PY" -c "from pathlib import Path; from inference.tiny import ensure_tiny_model; print(ensure_tiny_model(Path('$CACHE')))"
"$PY" -m pytest -q -m gpu tests/inference 2>&1 | tee "$RESULTS/gpu-tests.log"
"$PY" bench/bench_autolabel.py --device cuda:0 --images 2048 --batch 64 --repeat 3 --cache "$CACHE" --json "$RESULTS/autolabel-cuda.json" \
    | tee "$RESULTS/autolabel-cuda.txt"
"$PY" bench/bench_autolabel.py --device cpu --images 256 --batch 32 --repeat 3 --cache "$CACHE" --json "$RESULTS/autolabel-cpu.json" \
    | tee "$RESULTS/autolabel-cpu.txt"
