"""softsplat against the plain-PyTorch way: the vectorised index_add reference."""

import torch

import vfi_ops
from vfi_ops.reference import softsplat as reference_softsplat

from .common import compare_modes, copy_bandwidth_gbs, smooth_flow, timing_modes

# (name, B, C, H, W); every mode is timed on each.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920),
    ("1/4-res 64ch", 1, 64, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]
MODES = ("sum", "avg", "linear", "soft")

# Speedup targets over the reference (reported, never asserted); on CUDA the
# forward should also reach half the device's copy bandwidth.
TARGET = {"cpu": 4.0, "cuda": 5.0}


def inputs(B, C, H, W, mode, device, dtype):
    input = torch.randn(B, C, H, W, device=device, dtype=dtype)
    flow = smooth_flow(B, H, W, 8.0, device, dtype)
    if mode == "soft":  # e.g. -20 * |I0 - backward_warp(I1, F01)|: mostly in [-10, 0]
        metric = -10 * torch.rand(B, 1, H, W, device=device, dtype=dtype)
    elif mode == "linear":
        metric = torch.rand(B, 1, H, W, device=device, dtype=dtype) + 0.1
    else:
        return input, flow
    return input, flow, metric


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    peak_bandwidth = copy_bandwidth_gbs(device, min_run_time) if device == "cuda" else None
    for name, B, C, H, W in QUICK_CASES if quick else CASES:
        for mode in MODES:
            torch.manual_seed(0)
            tensors = inputs(B, C, H, W, mode, device, dtype)
            grad = torch.randn(B, C, H, W, device=device, dtype=dtype)

            def bandwidth(timing, ours_ms, tensors=tensors):
                if device != "cuda" or timing != "forward":
                    return {}
                # Read input, flow (and metric) once, write the output and den once.
                moved = (sum(t.numel() for t in tensors) + B * (C + 1) * H * W) * tensors[0].element_size()
                achieved = moved / (ours_ms * 1e-3) / 1e9
                return {"GB/s": achieved, "% of copy bw": 100 * achieved / peak_bandwidth}

            def ours(input, flow, metric=None, mode=mode):
                return vfi_ops.softsplat(input, flow, metric, mode)

            def baseline(input, flow, metric=None, mode=mode):
                return reference_softsplat(input, flow, metric, mode)

            target = TARGET.get(device, 1.0)
            results += compare_modes("softsplat", f"{name}, {mode}", device, dtype, ours, baseline,
                                     "index_add reference", timing_modes(tensors, grad),
                                     {"forward": target, "forward+backward": target}, min_run_time, bandwidth)
    return results
