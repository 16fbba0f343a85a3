"""sparse_masked_conv2d against the dense convolution it replaces (F.conv2d:
mkldnn on CPU, cuDNN on GPU), across mask densities."""

import torch
import torch.nn.functional as F

import vfi_ops

from .common import compare_modes, timing_modes

# (name, B, C, H, W, layout): 64 -> 64 3x3 convolutions on decoder features, NCHW
# and channels-last (both the op and the dense baseline then run channels-last).
CASES = [("256x448 64ch", 1, 64, 256, 448, torch.contiguous_format),
         ("540x960 64ch", 1, 64, 540, 960, torch.contiguous_format),
         ("256x448 64ch channels-last", 1, 64, 256, 448, torch.channels_last),
         ("540x960 64ch channels-last", 1, 64, 540, 960, torch.channels_last)]
QUICK_CASES = [("quick 32x48 8ch", 1, 8, 32, 48, torch.contiguous_format),
               ("quick 32x48 8ch channels-last", 1, 8, 32, 48, torch.channels_last)]
DENSITIES = [0.05, 0.10, 0.25, 0.50, 1.00]

# Speedup targets over dense (reported, never asserted): 3x at 10% active, and at
# most 1.5x slower at 100%; the other densities have none.
TARGETS = {0.10: 3.0, 1.00: 1 / 1.5}


def motion_mask(B, H, W, density, blob_share=0.8):
    """A mask like hard motion: `density` of the pixels active, blob_share of
    them in smooth blobs and the rest scattered."""
    n = round(density * H * W)
    blob = round(blob_share * n)
    coarse = torch.randn(B, 1, H // 48 + 2, W // 48 + 2)
    field = F.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=False).view(B, H * W)
    mask = torch.zeros(B, H * W, dtype=torch.bool)
    mask.scatter_(1, field.topk(blob, dim=1).indices, True)
    scores = torch.rand(B, H * W).masked_fill(mask, -1.0)  # scattered pixels outside the blobs
    mask.scatter_(1, scores.topk(n - blob, dim=1).indices, True)
    return mask.view(B, 1, H, W)


def crossover(points):
    """The density where the speedup falls through 1, interpolated between the
    measured densities; None if it never does."""
    for (d0, s0), (d1, s1) in zip(points, points[1:]):
        if s0 >= 1 > s1:
            return d0 + (d1 - d0) * (s0 - 1) / (s0 - s1)
    return None


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    for name, B, C, H, W, layout in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        input = torch.randn(B, C, H, W, device=device, dtype=dtype).contiguous(memory_format=layout)
        weight = torch.randn(C, C, 3, 3, device=device, dtype=dtype) / (3 * C ** 0.5)
        bias = torch.randn(C, device=device, dtype=dtype)
        grad = torch.randn(B, C, H, W, device=device, dtype=dtype).contiguous(memory_format=layout)
        case_results = []
        for density in DENSITIES:
            mask = motion_mask(B, H, W, density).to(device)

            def ours(x, w, b):
                return vfi_ops.sparse_masked_conv2d(x, w, b, mask, padding=1)

            def dense(x, w, b):
                return F.conv2d(x, w, b, padding=1)

            target = TARGETS.get(density)
            case_results += compare_modes(
                "sparse_masked_conv2d", f"{name} {density:.0%} active", device, dtype, ours, dense,
                "dense F.conv2d", timing_modes((input, weight, bias), grad),
                {"forward": target, "forward+backward": target}, min_run_time,
                extra=lambda mode, ms: {"active": float((mask != 0).float().mean())},
            )
        for mode in ("forward", "forward+backward"):
            rows = [r for r in case_results if r.mode == mode]
            cross = crossover([(r.extra["active"], r.speedup) for r in rows])
            for r in rows:
                r.extra["crossover"] = "none" if cross is None else f"{cross:.0%}"
        results += case_results
    return results
