"""backward_warp against the plain-PyTorch way: build a grid and call grid_sample."""

import torch

import vfi_ops
from vfi_ops.reference import grid_sample_warp

from .common import Case, copy_bandwidth_gbs, op_modes, smooth_flow

BASELINE = "grid_sample"

# (name, B, C, H, W, CPU targets for fwd and fwd+bwd); the flow and input share the size.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920, (2.0, 2.0)),
    ("1/4-res 64ch (270x480)", 1, 64, 270, 480, (1.5, 1.5)),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96, (None, None))]
# On CUDA: forward at least as fast (and >= 60% of copy bandwidth, in the JSON), fwd+bwd 1.5x.
CUDA_TARGETS = (1.0, 1.5)


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    bandwidth = {}
    for name, B, C, H, W, cpu_targets in QUICK_CASES if quick else CASES:
        targets = CUDA_TARGETS if device == "cuda" and not quick else cpu_targets

        def make(B=B, C=C, H=H, W=W):
            input = torch.randn(B, C, H, W, device=device)
            flow = smooth_flow(B, H, W, 8.0, device, torch.float32)
            grad = torch.randn(B, C, H, W, device=device)
            return op_modes(vfi_ops.backward_warp, grid_sample_warp, (input, flow), grad)

        def notes(mode, ours_ms, B=B, C=C, H=H, W=W):
            if device != "cuda" or mode != "forward":
                return {}
            if "peak" not in bandwidth:
                bandwidth["peak"] = copy_bandwidth_gbs(device, min_run_time)
            achieved = (2 * B * C * H * W + 2 * B * H * W) * 4 / (ours_ms * 1e-3) / 1e9
            return {"GB/s": achieved, "% of copy bw": 100 * achieved / bandwidth["peak"]}

        result.append(Case("backward_warp", name, BASELINE, dict(zip(("forward", "forward+backward"), targets)),
                           make, device, notes=notes))
    return result
