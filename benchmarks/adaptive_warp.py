"""adaptive_warp against the plain-PyTorch way: the gather-based reference (one gather per tap)."""

import torch

import vfi_ops
from vfi_ops.reference import adaptive_warp as reference_adaptive_warp

from .common import Case, op_modes, smooth_flow

BASELINE = "gather"

# (name, B, C, H, W): DAIN warps the frames (C = 3) and its context features
# (C up to 196 at 1/4 resolution) with 4x4 kernels.
CASES = [
    ("1080p RGB, F=4", 1, 3, 1080, 1920),
    ("1/4-res 64ch, F=4", 1, 64, 270, 480),
    ("1/4-res 196ch, F=4", 1, 196, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]
F = 4

# Speedup targets over the reference, forward and forward+backward alike.
TARGET = {"cpu": 3.0, "cuda": 5.0}


def bytes_moved(B, C, H, W):
    """mode -> the least bytes moved in float32: the forward reads the input, the
    flow and the kernels and writes the output; the backward reads the incoming
    gradient and those three and writes their gradients."""
    forward = 4 * B * H * W * (2 * C + 2 + F * F)
    return {"forward": forward, "forward+backward": forward + 4 * B * H * W * (3 * C + 4 + 2 * F * F)}.__getitem__


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, C, H, W in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)

        def make(B=B, C=C, H=H, W=W):
            input = torch.randn(B, C, H, W, device=device)
            flow = smooth_flow(B, H, W, 8.0, device, torch.float32)
            kernel = torch.rand(B, F * F, H, W, device=device)
            grad = torch.randn(B, C, H, W, device=device)
            return op_modes(vfi_ops.adaptive_warp, reference_adaptive_warp, (input, flow, kernel), grad)

        targets = {"forward": target, "forward+backward": target}
        # On a GPU: the effective bandwidth (x floor, and GB/s in the JSON).
        moved = bytes_moved(B, C, H, W) if device == "cuda" else None
        result.append(Case("adaptive_warp", name, BASELINE, targets, make, device, bytes_moved=moved))
    return result
