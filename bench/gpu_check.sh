#!/usr/bin/env bash
# One CUDA check, under 8 minutes: parity of PyTorch and JAX on the GPU (TF32 off, float32 to 1e-4; bfloat16 vs
# float32), the cross-framework equivalence tests (tests/flax/test_equivalence.py, tests/torch) with JAX on the GPU,
# then forward / training throughput against transformers (bench/gpu_check.py).
#
# Usage: bench/gpu_check.sh        (PYTHON=/path/to/python to choose the interpreter; default .venv/bin/python)
# Exit status: 0 all passed, 1 a check failed, 3 no CUDA GPU here (nothing was checked).
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
left() { echo $(( 460 - ($(date +%s) - START) )); }   # seconds left of the 8-minute budget (20 s spare)

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check.sh: no NVIDIA GPU here (nvidia-smi missing or sees no device); nothing checked." >&2
    exit 3
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: $PY has a torch without CUDA (install a CUDA build of torch); nothing checked." >&2
    exit 3
fi
nvidia-smi -L
lscpu 2>/dev/null | grep -E "Model name" || true
FAIL=0

echo "== parity and speed (bench/gpu_check.py)"
timeout "$(( $(left) - 200 ))" "$PY" bench/gpu_check.py || FAIL=1

echo "== equivalence tests, JAX on the GPU (tests/flax/test_equivalence.py, tests/torch)"
timeout "$(( $(left) > 30 ? $(left) : 30 ))" "$PY" -m pytest -q -p no:cacheprovider -x \
    tests/flax/test_equivalence.py tests/torch/test_fast.py tests/torch/test_fixtures.py \
    tests/torch/test_options.py tests/torch/test_masks.py tests/torch/test_transformers_compat.py || FAIL=1

echo "== done in $(( $(date +%s) - START )) s; $([ $FAIL = 0 ] && echo 'all passed' || echo 'FAILURES above')"
exit $FAIL
