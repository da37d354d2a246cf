#!/usr/bin/env bash
# The GPU check in one call, for a machine with an NVIDIA GPU, CuPy, torch and pytest installed
# (no virtual environment needed: backprop runs from src/). Logs go to $OUT (default ./gpu-out).
#   bash benchmarks/gpu_check.sh [tests|bench|all] [REPS]
# tests: the CUDA tests and the device-parametrized oracle suite with --device cuda;
# bench: `benchmarks.run --device cuda` (GPU batch sizes, torch CUDA side by side).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
what=${1:-all}
reps=${2:-2}
export PYTHONPATH=$PWD/src:$PWD/tests:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import sys, numpy, cupy, torch; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)"
} 2>&1 | tee "$OUT/env.txt"

if [[ $what == tests || $what == all ]]; then
  timeout "${TEST_TIMEOUT:-300}" $PY -m pytest -q -p no:cacheprovider --tb=short -n "${WORKERS:-8}" --device cuda \
    tests/test_cuda.py tests/test_ops_oracle.py tests/test_ops_more.py tests/test_special_ops.py \
    tests/test_nn_layers.py tests/test_nn_rnn.py tests/test_nn_attention.py tests/test_nn_more.py \
    tests/test_nn_losses.py tests/test_nn_module.py tests/test_optim.py tests/test_optim_more.py \
    tests/test_data.py tests/test_checkpoint.py tests/test_serialization.py tests/test_interop.py \
    tests/test_distributions.py tests/test_testing.py tests/test_repr.py >"$OUT/tests.log" 2>&1
  echo "tests exit $?"
  grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | sed 's/ - .*//' | head -60
  tail -3 "$OUT/tests.log"
fi

if [[ $what == bench || $what == all ]]; then
  timeout "${BENCH_TIMEOUT:-300}" $PY -m benchmarks.run --device cuda --reps "$reps" --steps "${STEPS:-10}" \
    --workloads ${WORKLOADS:-mlp cnn resnet gpt lstm overhead} --json "$OUT/bench.json" --markdown "$OUT/bench.md" >"$OUT/bench.log" 2>&1
  echo "bench exit $?"
  tail -15 "$OUT/bench.log"
fi
