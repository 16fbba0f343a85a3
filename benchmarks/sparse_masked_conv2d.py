"""sparse_masked_conv2d against the dense convolution it replaces (F.conv2d:
mkldnn on CPU, cuDNN on GPU), at several shares of active positions."""

import torch
import torch.nn.functional as F

import vfi_ops

from .common import MODE_LABELS, MODES, Case, op_modes

BASELINE = "F.conv2d"
DESCRIPTION = "64->64 3x3 convolutions on decoder features, share of output positions active"

# (name, B, C, H, W, layout); with channels-last both the op and F.conv2d run channels-last.
SIZES = [
    ("256x448", 1, 64, 256, 448, torch.contiguous_format),
    ("540x960", 1, 64, 540, 960, torch.contiguous_format),
    ("256x448 channels-last", 1, 64, 256, 448, torch.channels_last),
    ("540x960 channels-last", 1, 64, 540, 960, torch.channels_last),
]
QUICK_SIZES = [
    ("quick", 1, 8, 32, 48, torch.contiguous_format),
    ("quick channels-last", 1, 8, 32, 48, torch.channels_last),
]
# The default run: 10% active everywhere (the target), and 100% at 540x960 (the
# dense route); --full: every density of every size, which also locates the crossover.
DEFAULT = [(name, 0.10) for name, *_ in SIZES] + [("540x960", 1.00)]
DENSITIES = [0.05, 0.10, 0.25, 0.50, 1.00]

# Speedup targets over F.conv2d: 3x at 10% active, at most 1.5x slower at 100%; none elsewhere.
TARGETS = {0.10: 3.0, 1.00: 1 / 1.5}


def case_name(size: str, density: float) -> str:
    return f"{size}, {density:.0%} active"


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
    points = sorted(points)
    for (d0, s0), (d1, s1) in zip(points, points[1:]):
        if s0 >= 1 > s1:
            return d0 + (d1 - d0) * (s0 - 1) / (s0 - s1)
    return None


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    sizes = {name: rest for name, *rest in (QUICK_SIZES if quick else SIZES)}
    if quick or full:
        plan = [(name, d) for name in sizes for d in DENSITIES]
    else:
        plan = DEFAULT
    result = []
    for size, density in plan:
        B, C, H, W, layout = sizes[size]
        target = None if quick else TARGETS.get(density)

        def make(B=B, C=C, H=H, W=W, layout=layout, density=density):
            input = torch.randn(B, C, H, W, device=device).contiguous(memory_format=layout)
            weight = torch.randn(C, C, 3, 3, device=device) / (3 * C**0.5)
            bias = torch.randn(C, device=device)
            grad = torch.randn(B, C, H, W, device=device).contiguous(memory_format=layout)
            mask = motion_mask(B, H, W, density).to(device)
            return op_modes(
                lambda x, w, b: vfi_ops.sparse_masked_conv2d(x, w, b, mask, padding=1),
                lambda x, w, b: F.conv2d(x, w, b, padding=1),
                (input, weight, bias),
                grad,
            )

        result.append(
            Case(
                "sparse_masked_conv2d",
                case_name(size, density),
                BASELINE,
                {mode: target for mode in MODES},
                make,
                device,
                notes=lambda mode, ms, density=density: {"active": density},
            )
        )
    return result


def summary(results):
    """Where the op stops being faster than F.conv2d, per size and mode, when
    several densities were measured."""
    lines = []
    sizes = sorted({r.case.rsplit(", ", 1)[0] for r in results if r.op == "sparse_masked_conv2d"})
    for size in sizes:
        for mode in MODES:
            points = [
                (r.extra["active"], r.speedup)
                for r in results
                if r.op == "sparse_masked_conv2d" and r.case.rsplit(", ", 1)[0] == size and r.mode == mode
            ]
            if len(points) < 3:
                continue
            cross = crossover(points)
            lines.append(
                f"crossover ({size}, {MODE_LABELS[mode]}): "
                f"{'none, faster at every density' if cross is None else f'{cross:.0%} active'}"
            )
    return lines
