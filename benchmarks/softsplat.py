"""softsplat against the plain-PyTorch way: the vectorised index_add reference."""

import torch

import vfi_ops
from vfi_ops.reference import softsplat as reference_softsplat

from .common import Case, copy_bandwidth_gbs, op_modes, smooth_flow

BASELINE = "index_add"

# (name, B, C, H, W); "soft" is timed by default, every mode with --full.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920),
    ("1/4-res 64ch (270x480)", 1, 64, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]
MODES = ("sum", "avg", "linear", "soft")

# Speedup targets over the reference, forward and forward+backward alike; on
# CUDA the forward should also come within 2x of the device's copy bandwidth.
TARGET = {"cpu": 4.0, "cuda": 5.0}


def inputs(B, C, H, W, mode, device):
    input = torch.randn(B, C, H, W, device=device)
    flow = smooth_flow(B, H, W, 8.0, device, torch.float32)
    if mode == "soft":  # e.g. -20 * |I0 - backward_warp(I1, F01)|: mostly in [-10, 0]
        return input, flow, -10 * torch.rand(B, 1, H, W, device=device)
    if mode == "linear":
        return input, flow, torch.rand(B, 1, H, W, device=device) + 0.1
    return input, flow


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    bandwidth = {}
    for name, B, C, H, W in QUICK_CASES if quick else CASES:
        for mode in MODES if full or quick else ("soft",):
            target = None if quick else TARGET.get(device)

            def make(B=B, C=C, H=H, W=W, mode=mode):
                tensors = inputs(B, C, H, W, mode, device)
                grad = torch.randn(B, C, H, W, device=device)
                return op_modes(
                    lambda *t: vfi_ops.softsplat(*t, mode=mode),
                    lambda *t: reference_softsplat(*t, mode=mode),
                    tensors,
                    grad,
                )

            def notes(timing, ours_ms, B=B, C=C, H=H, W=W, mode=mode):
                if device != "cuda" or timing != "forward":
                    return {}
                if "peak" not in bandwidth:
                    bandwidth["peak"] = copy_bandwidth_gbs(device, min_run_time)
                # Read input, flow (and metric) once; write the output and den once.
                moved = (B * (C + 2 + (mode in ("soft", "linear"))) * H * W + B * (C + 1) * H * W) * 4
                achieved = moved / (ours_ms * 1e-3) / 1e9
                return {"GB/s": achieved, "% of copy bw": 100 * achieved / bandwidth["peak"]}

            result.append(
                Case(
                    "softsplat",
                    f"{name}, {mode}",
                    BASELINE,
                    {"forward": target, "forward+backward": target},
                    make,
                    device,
                    notes=notes,
                )
            )
    return result
