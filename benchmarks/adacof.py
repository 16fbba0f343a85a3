"""adacof against the plain-PyTorch way: the gather-based reference (four gathers per window tap).

Peak memory (CPU: the process's resident high-water mark while one call runs,
measured in a fresh process) is reported beside the baseline's.
"""

import torch

import vfi_ops
from vfi_ops import reference

from .common import Case, op_modes
from .peak_memory import peak_notes

BASELINE = "gather"

# (name, B, C, H, W, F, dilation): H, W of the output. AdaCoF: F = 5, d = 1;
# its larger model F = 11, d = 2.
# At 1080p the baseline takes minutes per call on a 2-core CPU, and its
# forward+backward more memory than a shared 23 GB machine had free (F = 5:
# killed): the default run times AdaCoF's sizes at 540 x 960 (F = 5) and
# 270 x 480 (F = 11; the baseline's autograd graph keeps ~4 gathers per tap).
CASES = [
    ("540x960 RGB, F=5 d=1", 1, 3, 540, 960, 5, 1),
    ("270x480 RGB, F=11 d=2", 1, 3, 270, 480, 11, 2),
]
QUICK_CASES = [("quick 64x96, F=5 d=1", 1, 3, 64, 96, 5, 1)]

# Speedup target over the plain-PyTorch way, forward and forward+backward alike.
TARGET = {"cpu": 3.0, "cuda": 3.0}


def make_inputs(B, C, H, W, F, d, device):
    pad = (F - 1) * d
    input = torch.rand(B, C, H + pad, W + pad, device=device)
    weight = torch.softmax(torch.randn(B, F * F, H, W, device=device), dim=1)
    offset_y = 2 * torch.randn(B, F * F, H, W, device=device)
    offset_x = 2 * torch.randn(B, F * F, H, W, device=device)
    return (input, weight, offset_y, offset_x), torch.randn(B, C, H, W, device=device)


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, C, H, W, F, d in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)

        def make(B=B, C=C, H=H, W=W, F=F, d=d):
            inputs, grad = make_inputs(B, C, H, W, F, d, device)
            return op_modes(
                lambda *t: vfi_ops.adacof(*t, dilation=d), lambda *t: reference.adacof(*t, dilation=d), inputs, grad
            )

        spec = ("adacof", (B, C, H, W, F, d), "gather")
        result.append(
            Case(
                "adacof",
                name,
                BASELINE,
                {"forward": target, "forward+backward": target},
                make,
                device,
                notes=None if quick else (lambda mode, ours_ms, spec=spec: peak_notes(spec, mode, device)),
            )
        )
    return result
