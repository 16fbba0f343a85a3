"""softsplat against the plain-PyTorch way a user would write (float32 index_add
splats of the weighted input with its weight as one more channel, as the
softmax-splatting paper's code does); and, as a second, labelled baseline
(": reference" rows), vfi_ops.reference, written for exactness."""

import itertools

import torch

import vfi_ops
from vfi_ops.reference import softsplat as reference_softsplat

from .common import Case, copy_bandwidth_gbs, op_modes, smooth_flow

BASELINE = "index_add"
DESCRIPTION = """\
base: float32 index_add of [w z input, w z] per tap (plain PyTorch);
": reference" rows: against vfi_ops.reference (written for exactness)"""

# (name, B, C, H, W); "soft" is timed by default, every mode with --full.
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920),
    ("1/4-res 64ch (270x480)", 1, 64, 270, 480),
]
QUICK_CASES = [("quick 64x96", 1, 3, 64, 96)]
MODES = ("sum", "avg", "linear", "soft")

# The cases also timed against the reference (the second baseline).
REFERENCE_CASES = {"1/4-res 64ch (270x480)", "quick 64x96"}

# Speedup targets over the plain way, forward and forward+backward alike; on
# CUDA the forward should also come within 2x of the device's copy bandwidth.
TARGET = {"cpu": 4.0, "cuda": 5.0}


def plain_softsplat(input, flow, metric=None, mode="soft"):
    """Softmax splatting as a user would write it in plain PyTorch: z = 1, Z or
    exp(Z) per source; [z input, z] splatted to the four bilinear taps with one
    float32 index_add over all taps; then divided by the last channel (but in
    "sum" mode). Equal to the op where exp(Z) neither overflows nor underflows
    (as at the benchmarked metrics in [-10, 0])."""
    B, C, H, W = input.shape
    xs = torch.arange(W, device=input.device, dtype=input.dtype)
    ys = torch.arange(H, device=input.device, dtype=input.dtype).view(H, 1)
    qx, qy = xs + flow[:, 0], ys + flow[:, 1]
    x0, y0 = qx.detach().floor(), qy.detach().floor()
    ax, ay = qx - x0, qy - y0
    x0, y0 = x0.long(), y0.long()
    if mode in ("sum", "avg"):
        weighted, z = input, input.new_ones(B, 1, H, W)
    else:
        z = metric if mode == "linear" else metric.exp()
        weighted = input * z
    values = torch.cat((weighted, z), 1)
    values = values.permute(0, 2, 3, 1).reshape(B * H * W, C + 1)
    base = (torch.arange(B, device=input.device) * H * W).view(B, 1, 1)
    index, taps = [], []
    for dy, wy in ((0, 1 - ay), (1, ay)):
        for dx, wx in ((0, 1 - ax), (1, ax)):
            x, y = x0 + dx, y0 + dy
            inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
            index.append(torch.where(inside, base + y * W + x, 0).reshape(-1))
            taps.append(values * (wx * wy * inside).reshape(-1, 1))
    out = input.new_zeros(B * H * W, C + 1).index_add(0, torch.cat(index), torch.cat(taps))
    if mode != "sum":
        den = out[:, C:]
        out = torch.where(den > 0, out / torch.where(den > 0, den, 1), 0)
    return out[:, :C].view(B, H, W, C).permute(0, 3, 1, 2)


def bytes_moved(B, C, H, W, mode):
    """mode -> the least bytes moved in float32: the forward reads the input, the
    flow (and the metric) and writes the output; the backward reads the incoming
    gradient and those and writes their gradients."""
    m = mode in ("soft", "linear")
    forward = 4 * B * H * W * (2 * C + 2 + m)
    return {"forward": forward, "forward+backward": forward + 4 * B * H * W * (3 * C + 4 + 2 * m)}.__getitem__


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
        baselines = [("", BASELINE, plain_softsplat, None if quick else TARGET.get(device))]
        if name in REFERENCE_CASES:
            baselines.append((": reference", "reference", reference_softsplat, None))
        for (suffix, label, baseline, target), mode in itertools.product(
            baselines, MODES if full or quick else ("soft",)
        ):

            def make(B=B, C=C, H=H, W=W, mode=mode, baseline=baseline):
                tensors = inputs(B, C, H, W, mode, device)
                grad = torch.randn(B, C, H, W, device=device)
                return op_modes(
                    lambda *t: vfi_ops.softsplat(*t, mode=mode),
                    lambda *t: baseline(*t, mode=mode),
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
                    f"{name}, {mode}{suffix}",
                    label,
                    {"forward": target, "forward+backward": target},
                    make,
                    device,
                    notes=notes,
                    # On a GPU: the effective bandwidth (x floor, and GB/s in the JSON).
                    bytes_moved=bytes_moved(B, C, H, W, mode) if device == "cuda" else None,
                )
            )
    return result
