"""sepconv against the plain-PyTorch ways: F.unfold, and one unfolded kernel row at a time.

F.unfold materialises a [B, C*K*K, H*W] buffer: 16 GB in float32 for SepConv's
K = 51 at 540 x 960 RGB, more than this machine has, so at K = 51 the baseline
is reference.sepconv_rowwise: per kernel row i, that row's windows as a strided
view (Tensor.unfold, no copy) times the horizontal kernels, summed, times
vertical[:, i] (a [B, C, H, W, K] temporary per row). Peak memory (CPU: the
process's resident high-water mark while one call runs, measured in a fresh
process) is reported beside the baseline's.
"""

import torch

import vfi_ops
from vfi_ops import reference

from .common import Case, op_modes
from .peak_memory import peak_notes

BASELINE = "unfold"

# (name, B, C, H, W, K, baseline): H, W of the output; baseline "unfold" is
# F.unfold (reference.sepconv), "rows" one Tensor.unfold view per kernel row.
# SepConv's own size, 540 x 960 at K = 51, takes the baseline minutes per call
# on a 2-core CPU: the default run times a quarter of its rows.
CASES = [
    ("135x960 RGB, K=51", 1, 3, 135, 960, 51, "rows"),
    ("270x480 RGB, K=13", 1, 3, 270, 480, 13, "unfold"),
]
QUICK_CASES = [("quick 64x96, K=11", 1, 3, 64, 96, 11, "unfold")]
BASELINES = {"unfold": reference.sepconv, "rows": reference.sepconv_rowwise}

# Speedup target over the plain-PyTorch way, forward and forward+backward alike.
TARGET = {"cpu": 3.0, "cuda": 3.0}


def make_inputs(B, C, H, W, K, device):
    input = torch.rand(B, C, H + K - 1, W + K - 1, device=device)
    vertical = torch.rand(B, K, H, W, device=device) / K
    horizontal = torch.rand(B, K, H, W, device=device) / K
    return (input, vertical, horizontal), torch.randn(B, C, H, W, device=device)


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, C, H, W, K, baseline in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)

        def make(B=B, C=C, H=H, W=W, K=K, baseline=baseline):
            inputs, grad = make_inputs(B, C, H, W, K, device)
            return op_modes(vfi_ops.sepconv, BASELINES[baseline], inputs, grad)

        spec = ("sepconv", (B, C, H, W, K), baseline)
        result.append(
            Case(
                "sepconv",
                name,
                BASELINE,
                {"forward": target, "forward+backward": target},
                make,
                device,
                notes=None if quick else (lambda mode, ours_ms, spec=spec: peak_notes(spec, mode, device)),
            )
        )
    return result
