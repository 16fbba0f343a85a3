#!/usr/bin/env bash
# Everything that needs a GPU, in one run: build vfi_ops in place with its CUDA
# kernels, run the whole test suite (the CUDA tests included), then the CUDA benchmarks
# (--full: the op tables at every density and the models).
# Needs torch and nvcc installed; no network. Logs and JSON go to the folder given.
#
#   bash benchmarks/gpu_check.sh OUT_DIR
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

nvidia-smi > "$out/nvidia-smi.txt" 2>&1
echo "== build"
if ! pip install --no-build-isolation --no-deps -e . > "$out/build.log" 2>&1; then
  tail -n 60 "$out/build.log"
  exit 1
fi
python -m vfi_ops | tee "$out/build_info.txt"

echo "== tests"
python -m pytest tests -rs 2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}

echo "== benchmarks"
python -m benchmarks --device cuda --full --json "$out/bench.json" 2>&1 | tee "$out/bench.txt"
bench_rc=${PIPESTATUS[0]}

echo "tests exit $tests_rc, benchmarks exit $bench_rc; logs in $out"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
