"""flow_projection against the plain-PyTorch way: the vectorised index_add reference."""

import torch

import vfi_ops
from vfi_ops.reference import flow_projection as reference_flow_projection

from .common import compare_modes, smooth_flow, timing_modes

# (name, B, H, W, kind): "DAIN" projects half of a smooth flow weighted by inverse
# depth, with hole filling (DAIN's F_t0); "mostly holes" sends all but a 16x16
# patch out of the image, so the hole filling scans almost empty rows and columns.
CASES = [
    ("540x960 DAIN", 1, 540, 960, "DAIN"),
    ("1080p DAIN", 1, 1080, 1920, "DAIN"),
    ("1080p mostly holes", 1, 1080, 1920, "holes"),
]
QUICK_CASES = [("quick 64x96", 1, 64, 96, "DAIN")]

# Speedup targets over the reference (reported, never asserted).
TARGET = {"cpu": 3.0, "cuda": 5.0}


def inputs(B, H, W, kind, device, dtype):
    flow = 0.5 * smooth_flow(B, H, W, 16.0, device, dtype)
    if kind == "holes":
        far = torch.full_like(flow, 1e5)
        far[..., :16, :16] = flow[..., :16, :16]
        flow = far
    depth = 1 + 9 * torch.rand(B, 1, H, W, device=device, dtype=dtype)
    return flow, 1 / depth + 1e-6


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    for name, B, H, W, kind in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        flow, weight = inputs(B, H, W, kind, device, dtype)
        grad = torch.randn(B, 2, H, W, device=device, dtype=dtype)

        target = TARGET.get(device, 1.0)
        results += compare_modes("flow_projection", name, device, dtype,
                                 lambda f, w: vfi_ops.flow_projection(f, w, True),
                                 lambda f, w: reference_flow_projection(f, w, True), "index_add reference",
                                 timing_modes((flow, weight), grad),
                                 {"forward": target, "forward+backward": target}, min_run_time)
    return results
