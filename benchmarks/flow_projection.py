"""flow_projection against the plain-PyTorch way a user would write: float32
index_add splats and the vectorised hole filling; and, as a second, labelled
baseline (": reference" rows), our exactness-first reference (float64 sums of
weights scaled per item)."""

import torch

import vfi_ops
from vfi_ops.reference import flow_projection as reference_flow_projection
from vfi_ops.reference.flow_projection import _fill_holes

from .common import Case, op_modes, smooth_flow

BASELINE = "index_add"
DESCRIPTION = """\
base: float32 index_add splats and a vectorised fill (plain PyTorch);
": reference" rows: against vfi_ops.reference (float64 sums), for exactness"""

# (name, B, H, W, kind): "DAIN" projects half of a smooth flow weighted by inverse
# depth, with hole filling (DAIN's F_t0); "outside" sends all but a 16x16 patch
# out of the image, so the hole filling scans almost empty rows and columns.
CASES = [
    ("540x960, DAIN recipe", 1, 540, 960, "DAIN"),
    ("1080p, DAIN recipe", 1, 1080, 1920, "DAIN"),
    ("1080p, almost all lands outside", 1, 1080, 1920, "outside"),
]
QUICK_CASES = [("quick 64x96", 1, 64, 96, "DAIN")]
# The cases also timed against the reference (the second baseline).
REFERENCE_CASES = {"540x960, DAIN recipe", "quick 64x96"}

# Speedup targets over the plain way, forward and forward+backward alike.
TARGET = {"cpu": 3.0, "cuda": 5.0}


def plain_flow_projection(flow, weight, fill_holes=True):
    """DAIN's flow projection as a user would write it in plain PyTorch: each
    landing source adds (w fx, w fy, w) to its four pixels with one float32
    index_add, then -sum(w f) / sum(w) and the vectorised two-pass fill of
    vfi_ops.reference (cummax rays). The same result as the op at the
    benchmarked inputs up to float32 rounding."""
    B, _, H, W = flow.shape
    xs = torch.arange(W, device=flow.device, dtype=flow.dtype)
    ys = torch.arange(H, device=flow.device, dtype=flow.dtype).view(H, 1)
    qx, qy = xs + flow[:, 0], ys + flow[:, 1]
    lands = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1)
    w = weight[:, 0] * lands
    left = qx.detach().floor().clamp(0, W - 1).long()
    top = qy.detach().floor().clamp(0, H - 1).long()
    right, bottom = (left + 1).clamp_max(W - 1), (top + 1).clamp_max(H - 1)
    base = (torch.arange(B, device=flow.device) * H * W).view(B, 1, 1)
    index = torch.cat(
        [
            (base + row * W + col).reshape(-1)
            for row, col in ((top, left), (top, right), (bottom, left), (bottom, right))
        ]
    )
    values = torch.stack((w * flow[:, 0], w * flow[:, 1], w), dim=-1).reshape(-1, 3)
    sums = flow.new_zeros(B * H * W, 3).index_add(0, index, values.repeat(4, 1))
    den = sums[:, 2:]
    out = torch.where(den > 0, -sums[:, :2] / torch.where(den > 0, den, 1), 0)
    out = out.view(B, H, W, 2).permute(0, 3, 1, 2)
    return _fill_holes(out, den.view(B, H, W, 1).permute(0, 3, 1, 2)) if fill_holes else out


def bytes_moved(B, H, W):
    """mode -> the least bytes moved in float32: the forward reads the flow and the
    weight and writes the result; the backward reads the incoming gradient, the
    flow and the weight and writes their gradients."""
    plane = 4 * B * H * W
    return {"forward": 5 * plane, "forward+backward": 5 * plane + 8 * plane}.__getitem__


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
        baselines = [(name, BASELINE, plain_flow_projection, target)]
        if name in REFERENCE_CASES:
            baselines.append((f"{name}: reference", "reference", reference_flow_projection, None))
        for case_name, label, baseline, case_target in baselines:

            def make(B=B, H=H, W=W, kind=kind, baseline=baseline):
                grad = torch.randn(B, 2, H, W, device=device)
                return op_modes(
                    lambda f, w: vfi_ops.flow_projection(f, w, True),
                    lambda f, w: baseline(f, w, True),
                    inputs(B, H, W, kind, device),
                    grad,
                )

            targets = {"forward": case_target, "forward+backward": case_target}
            # On a GPU: the effective bandwidth (x floor, and GB/s in the JSON).
            moved = bytes_moved(B, H, W) if device == "cuda" else None
            result.append(Case("flow_projection", case_name, label, targets, make, device, bytes_moved=moved))
    return result
