"""backward_warp against the plain-PyTorch way: build a grid and call grid_sample."""

import torch

import vfi_ops
from vfi_ops.reference import grid_sample_warp

from .common import compare_modes, copy_bandwidth_gbs, smooth_flow, timing_modes

# (name, B, C, H, W); the flow and input share the size.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920),
    ("1/4-res 64ch", 1, 64, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]

# Speedup targets over grid_sample (reported, never asserted).
TARGETS = {
    ("cpu", "1080p RGB"): {"forward": 2.0, "forward+backward": 2.0},
    ("cpu", "1/4-res 64ch"): {"forward": 1.5, "forward+backward": 1.5},
}
CUDA_TARGET = {"forward": 1.0, "forward+backward": 1.5}  # forward: also >= 60% of copy bandwidth


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    peak_bandwidth = copy_bandwidth_gbs(device, min_run_time) if device == "cuda" else None
    for name, B, C, H, W in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        input = torch.randn(B, C, H, W, device=device, dtype=dtype)
        flow = smooth_flow(B, H, W, 8.0, device, dtype)
        grad = torch.randn(B, C, H, W, device=device, dtype=dtype)
        targets = TARGETS.get((device, name), CUDA_TARGET if device == "cuda" else {"forward": 1.0, "forward+backward": 1.0})

        def bandwidth(mode, ours_ms):
            if device != "cuda" or mode != "forward":
                return {}
            moved = (input.numel() + flow.numel() + B * C * H * W) * input.element_size()
            achieved = moved / (ours_ms * 1e-3) / 1e9
            return {"GB/s": achieved, "% of copy bw": 100 * achieved / peak_bandwidth}

        results += compare_modes("backward_warp", name, device, dtype, vfi_ops.backward_warp, grid_sample_warp,
                                 "grid_sample", timing_modes((input, flow), grad), targets,
                                 min_run_time, bandwidth)
    return results
