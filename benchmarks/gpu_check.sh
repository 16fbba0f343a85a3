#!/usr/bin/env bash
# What needs a GPU, in the order it matters, within the minutes a GPU is lent
# (8 minutes on one modern GPU with 16 CPU cores; --quick: 4):
#   1. build vfi_ops in place with CUDA kernels for the visible GPU's architecture
#      only (TORCH_CUDA_ARCH_LIST from torch.cuda.get_device_capability);
#   2. the CUDA tests of the test suite (pytest -m cuda);
#   3. the op benchmarks at 1080p on the GPU against the plain-PyTorch ways
#      (sparse_masked_conv2d at 540x960, 10% active);
#      the x floor column and the JSON's "effective GB/s" give each row's
#      effective bandwidth against the device's measured copy bandwidth;
#   4. the DAIN-style and UGSP-style models.
# Every step has a time limit cut to what is left of the run's budget, and every
# result file is written as the step goes (logs line by line, benchmark JSON after
# each row), so a run cut short leaves everything done so far. summary.txt says
# how each step ended. Needs torch (a CUDA build) and nvcc; no network.
#
#   bash benchmarks/gpu_check.sh [--quick] [--dry-run] OUT_DIR
#
# --dry-run: the same steps on a machine without a GPU, to check the script
# itself: it writes the real run's build and test commands to commands.txt and
# collects the tests they select, then runs stand-ins: a CPU-only build, a few
# tests of the emulated CUDA kernels (-m emulated), a few of the benchmarks on
# the CPU at the --quick sizes with the shortest timing. Its timings mean nothing.
set -uo pipefail
quick=0 dry=0 out= model_cases=
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $arg" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
[ -n "$out" ] || { echo "usage: bash benchmarks/gpu_check.sh [--quick] [--dry-run] OUT_DIR" >&2; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

# Seconds for the whole run, a reserve kept for writing the summary, and each
# step's own cap (cut to what is left when the step starts).
if [ "$quick" = 1 ]; then
  budget=225 cap_build=150 cap_tests=60 cap_ops=50 cap_models=30 min_run_time=0.1
else
  budget=465 cap_build=240 cap_tests=120 cap_ops=150 cap_models=90 min_run_time=0.25
fi
reserve=5
: > "$out/summary.txt"
note() { echo "$1" | tee -a "$out/summary.txt"; }

# step NAME CAP LOG COMMAND...: runs COMMAND with its output going to LOG as it
# comes, for at most CAP seconds or what is left of the budget.
step() {
  local name=$1 cap=$2 log=$3
  shift 3
  local left=$((budget - reserve - (SECONDS - start)))
  local limit=$((cap < left ? cap : left))
  if [ "$limit" -lt 5 ]; then
    note "$name: skipped, no time left"
    return 124
  fi
  echo "== $name (at most ${limit} s; $((SECONDS - start)) s in)"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=5 "$limit" "$@" > "$log" 2>&1 &
  local pid=$!
  tail -n +1 -f --pid="$pid" "$log" 2> /dev/null
  wait "$pid"
  local rc=$?
  case $rc in
    0) note "$name: passed in $((SECONDS - t0)) s; $log" ;;
    124 | 130 | 137) note "$name: stopped at its limit of ${limit} s; what it finished is in $log" ;;
    *) note "$name: failed (exit $rc) in $((SECONDS - t0)) s; $log" ;;
  esac
  return "$rc"
}

# What a real run runs; a dry run runs stand-ins (below) and checks these: it
# writes them to commands.txt and collects the tests they select.
marks="cuda"
[ "$quick" = 1 ] && marks="cuda and not slow"
tests=(python -m pytest tests -m "$marks" -q -rs -p no:cacheprovider --junitxml "$out/tests.xml")
# 1080p, and sparse_masked_conv2d's largest size (540x960) at 10% active
device=cuda cases=(1080p "540x960, 10% active" "540x960 channels-last, 10% active") sizes=
if [ "$dry" = 1 ]; then
  arch=9.0
  build=(env FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" python setup.py build_ext --inplace -q)
  {
    printf '%q ' "${build[@]}"
    echo
    printf '%q ' "${tests[@]}"
    echo
  } > "$out/commands.txt"
  python -m pytest tests -m "$marks" --collect-only -q -p no:cacheprovider > "$out/collected.txt" 2>&1 || {
    tail -n 20 "$out/collected.txt"
    note "the real run's tests (-m \"$marks\") do not collect"
    exit 1
  }
  note "the real run's tests: $(tail -n 1 "$out/collected.txt")"
  arch="(dry run: none)"
  build=(env FORCE_CUDA=0 python setup.py build_ext --inplace -q)
  tests=(python -m pytest tests/test_backward_warp.py -m "emulated and not slow" -k "hand_computed or exact_positions"
    -q -rs -p no:cacheprovider --junitxml "$out/tests.xml")
  # A few rows of each benchmark step: the CPU is far slower than a GPU.
  device=cpu cases=("64x96 NHWC" "64x96: reference") sizes=--quick min_run_time=0.01 dry_ops=(backward_warp flow_projection)
  cap_models=$budget model_cases="S_t = 0.3"  # the CPU's models take what is left
  export OMP_NUM_THREADS=1  # one thread each: a shared CPU's cores are busy enough
else
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1
  arch=$(python -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())') || {
    note "no GPU visible to torch (torch.cuda.get_device_capability failed)"
    exit 1
  }
  build=(env FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" python setup.py build_ext --inplace -q)
fi
start=$SECONDS  # (a dry run's check of the real commands above is not timed)
note "gpu_check: $( [ "$dry" = 1 ] && echo "dry run, " )$( [ "$quick" = 1 ] && echo quick || echo full ), budget ${budget} s, arch $arch"

step build "$cap_build" "$out/build.log" "${build[@]}" || {
  note "the build failed: nothing else can run"
  exit 1
}
python -m vfi_ops > "$out/build_info.txt" 2>&1
cat "$out/build_info.txt"

step "tests" "$cap_tests" "$out/tests.log" "${tests[@]}"
tests_rc=$?

ops=(backward_warp softsplat flow_projection adaptive_warp sparse_masked_conv2d)
[ "$quick" = 1 ] && ops=(backward_warp softsplat flow_projection)
[ "$dry" = 1 ] && ops=("${dry_ops[@]}")
step "op benchmarks" "$cap_ops" "$out/bench_ops.txt" \
  python -m benchmarks --device "$device" --ops "${ops[@]}" --cases "${cases[@]}" $sizes \
  --min-run-time "$min_run_time" --json "$out/bench_ops.json"
ops_rc=$?

models=(ugsp dain)
[ "$quick" = 1 ] && models=(ugsp)
# The models at their quick size on a quick run (and a dry run), else at their own sizes.
model_sizes=$( [ "$quick" = 1 ] || [ "$dry" = 1 ] && echo --quick )
step "models" "$cap_models" "$out/bench_models.txt" \
  python -m benchmarks --device "$device" --ops "${models[@]}" $model_sizes ${model_cases:+--cases "$model_cases"} \
  --min-run-time "$min_run_time" --json "$out/bench_models.json"
models_rc=$?

note "done in $((SECONDS - start)) s (budget ${budget} s): tests exit $tests_rc, op benchmarks exit $ops_rc, models exit $models_rc; files in $out"
[ "$tests_rc" -eq 0 ] && [ "$ops_rc" -eq 0 ] && [ "$models_rc" -eq 0 ]
