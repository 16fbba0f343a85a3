"""correlation against the plain-PyTorch way: zero padding and one shifted product per displacement."""

import importlib.util
import textwrap

import torch

import vfi_ops
from vfi_ops.reference import correlation as reference_correlation

from .common import Case, op_modes

BASELINE = "pad+shifted products"
DESCRIPTION = "PWC-Net's sizes, d = 4 (81 channels), stride 1, dilation 1"

# (name, B, C, H, W, max_displacement)
CASES = [
    ("1/4 of 1080p (270x480), 32ch, d=4", 1, 32, 270, 480, 4),
    ("1/8 of 1080p (135x240), 64ch, d=4", 1, 64, 135, 240, 4),
    ("1/8 of 1080p (135x240), 128ch, d=4", 1, 128, 135, 240, 4),
]
QUICK_CASES = [("quick 24x32, 16ch, d=4", 1, 16, 24, 32, 4)]

# Speedup targets over the plain-PyTorch way, forward and forward+backward alike.
TARGET = {"cpu": 3.0}


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, C, H, W, d in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)

        def make(B=B, C=C, H=H, W=W, d=d):
            tensors = (torch.randn(B, C, H, W, device=device), torch.randn(B, C, H, W, device=device))
            grad = torch.randn(B, (2 * d + 1) ** 2, H, W, device=device)
            return op_modes(
                lambda a, b: vfi_ops.correlation(a, b, d), lambda a, b: reference_correlation(a, b, d), tensors, grad
            )

        result.append(
            Case("correlation", name, BASELINE, {"forward": target, "forward+backward": target}, make, device)
        )
    return result


def summary(section):
    if importlib.util.find_spec("spatial_correlation_sampler") is None:
        note = "spatial-correlation-sampler is not installed here: no side-by-side row (it builds from source)"
    else:
        note = "spatial-correlation-sampler is installed; its side-by-side row is not timed by this version"
    return textwrap.wrap(note, 78, initial_indent="  ", subsequent_indent="  ")
