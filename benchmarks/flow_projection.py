"""flow_projection against the plain-PyTorch way: the vectorised index_add reference."""

import torch

import vfi_ops
from vfi_ops.reference import flow_projection as reference_flow_projection

from .common import Case, op_modes, smooth_flow

BASELINE = "index_add"

# (name, B, H, W, kind): "DAIN" projects half of a smooth flow weighted by inverse
# depth, with hole filling (DAIN's F_t0); "outside" sends all but a 16x16 patch
# out of the image, so the hole filling scans almost empty rows and columns.
CASES = [
    ("540x960, DAIN recipe", 1, 540, 960, "DAIN"),
    ("1080p, DAIN recipe", 1, 1080, 1920, "DAIN"),
    ("1080p, almost all lands outside", 1, 1080, 1920, "outside"),
]
QUICK_CASES = [("quick 64x96", 1, 64, 96, "DAIN")]

# Speedup targets over the reference, forward and forward+backward alike.
TARGET = {"cpu": 3.0, "cuda": 5.0}


def inputs(B, H, W, kind, device):
    flow = 0.5 * smooth_flow(B, H, W, 16.0, device, torch.float32)
    if kind == "outside":
        far = torch.full_like(flow, 1e5)
        far[..., :16, :16] = flow[..., :16, :16]
        flow = far
    depth = 1 + 9 * torch.rand(B, 1, H, W, device=device)
    return flow, 1 / depth + 1e-6


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, H, W, kind in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)

        def make(B=B, H=H, W=W, kind=kind):
            grad = torch.randn(B, 2, H, W, device=device)
            return op_modes(
                lambda f, w: vfi_ops.flow_projection(f, w, True),
                lambda f, w: reference_flow_projection(f, w, True),
                inputs(B, H, W, kind, device),
                grad,
            )

        result.append(
            Case("flow_projection", name, BASELINE, {"forward": target, "forward+backward": target}, make, device)
        )
    return result
