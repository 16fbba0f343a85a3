"""Peak memory of one call of an op or its baseline, for the sepconv and adacof benchmarks.

On CUDA: torch's peak allocation above what was allocated before the call. On
the CPU: the resident high-water mark (ru_maxrss) of a fresh process, after
making the inputs and after one call: what the call added on top of the inputs.

    python -m benchmarks.peak_memory OP SIZES BASELINE MODE WHICH

(run by peak_notes, one process per measurement) prints the megabytes.
"""

import json
import resource
import subprocess
import sys

import torch


def _fns(op, sizes, baseline, mode, device):
    from . import adacof, sepconv
    from .common import op_modes

    if op == "sepconv":
        inputs, grad = sepconv.make_inputs(*sizes, device)
        return op_modes(sepconv.vfi_ops.sepconv, sepconv.BASELINES[baseline], inputs, grad)[mode]
    *shape, d = sizes
    inputs, grad = adacof.make_inputs(*shape, d, device)
    return op_modes(
        lambda *t: adacof.vfi_ops.adacof(*t, dilation=d),
        lambda *t: adacof.reference.adacof(*t, dilation=d),
        inputs,
        grad,
    )[mode]


def _cuda_peak_mb(fn) -> float:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def peak_notes(spec, mode: str, device: str) -> dict:
    """{"peak MB": ours, "baseline peak MB": the baseline's} for one case and mode."""
    op, sizes, baseline = spec
    notes = {}
    for which, key in (("ours", "peak MB"), ("baseline", "baseline peak MB")):
        if device.startswith("cuda"):
            ours, base = _fns(op, sizes, baseline, mode, device)
            notes[key] = _cuda_peak_mb(ours if which == "ours" else base)
            continue
        args = [op, json.dumps(list(sizes)), baseline, mode, which]
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.peak_memory"] + args, capture_output=True, text=True, check=False
        )
        notes[key] = float(run.stdout.strip()) if run.returncode == 0 else float("nan")
    return notes


def main() -> None:
    op, sizes, baseline, mode, which = sys.argv[1:6]
    ours, base = _fns(op, json.loads(sizes), baseline, mode, "cpu")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (ours if which == "ours" else base)()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024)


if __name__ == "__main__":
    main()
