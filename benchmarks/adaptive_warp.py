"""adaptive_warp against the plain-PyTorch way: the gather-based reference (one gather per tap)."""

import torch

import vfi_ops
from vfi_ops.reference import adaptive_warp as reference_adaptive_warp

from .common import compare_modes, smooth_flow, timing_modes

# (name, B, C, H, W): DAIN warps the frames (C = 3) and its context features
# (C up to 196 at 1/4 resolution) with 4x4 kernels.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920),
    ("1/4-res 64ch", 1, 64, 270, 480),
    ("1/4-res 196ch", 1, 196, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]
F = 4

# Speedup targets over the reference (reported, never asserted).
TARGET = {"cpu": 3.0, "cuda": 5.0}


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    for name, B, C, H, W in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        input = torch.randn(B, C, H, W, device=device, dtype=dtype)
        flow = smooth_flow(B, H, W, 8.0, device, dtype)
        kernel = torch.rand(B, F * F, H, W, device=device, dtype=dtype)
        grad = torch.randn(B, C, H, W, device=device, dtype=dtype)

        target = TARGET.get(device, 1.0)
        results += compare_modes("adaptive_warp", name, device, dtype, vfi_ops.adaptive_warp,
                                 reference_adaptive_warp, "gather reference",
                                 timing_modes((input, flow, kernel), grad),
                                 {"forward": target, "forward+backward": target}, min_run_time)
    return results
