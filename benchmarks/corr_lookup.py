"""corr_lookup against RAFT's way: the all-pairs volume (one matmul) sampled with grid_sample.

RAFT samples its volume at every refinement iteration: a row times 12 lookups
(the volume built once for the baseline, the op called 12 times), one pyramid
level, r = 4, 256 channels (RAFT's feature width). At 1/8 of 4K the volume
(67 GB in float32) does not fit in memory: the op alone is run there, once, in
a fresh process, reporting its time and its peak memory growth beside the
volume's size.
"""

import json
import subprocess
import sys
import textwrap

import torch
import torch.nn.functional as F

import vfi_ops

from .common import Case, op_modes

BASELINE = "all-pairs matmul+grid_sample"
DESCRIPTION = "12 lookups, r = 4, one level, 256 channels; the all-pairs volume built once"

LOOKUPS = 12
RADIUS = 4
# (name, B, C, H, W, modes): forward+backward only where the baseline's
# gradients (the volume twice) fit this machine's memory.
CASES = [
    ("1/8 of 720p (90x160), 256ch", 1, 256, 90, 160, ("forward", "forward+backward")),
    ("1/8 of 1080p (135x240), 256ch", 1, 256, 135, 240, ("forward",)),
]
QUICK_CASES = [("quick 12x16, 32ch", 1, 32, 12, 16, ("forward", "forward+backward"))]
FOURK = (1, 256, 270, 480)  # 1/8 of 3840x2160

# Over 12 lookups at most 2x slower than the all-pairs way where that fits.
TARGET = {"cpu": 0.5}


def base_grid(B, H, W, device):
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=torch.float32, device=device),
        torch.arange(W, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack((xs, ys)).expand(B, 2, H, W)


def ours(fmap1, fmap2, coords):
    return torch.stack([vfi_ops.corr_lookup(fmap1, fmap2, coords, RADIUS) for _ in range(LOOKUPS)])


def all_pairs(fmap1, fmap2, coords):
    B, C, H, W = fmap1.shape
    H2, W2 = fmap2.shape[-2:]
    volume = torch.matmul(fmap1.flatten(2).transpose(1, 2), fmap2.flatten(2)).view(B * H * W, 1, H2, W2)
    n = 2 * RADIUS + 1
    offsets = torch.arange(-RADIUS, RADIUS + 1, dtype=coords.dtype, device=coords.device)
    centre = coords.permute(0, 2, 3, 1).reshape(B * H * W, 1, 1, 2)
    out = []
    for _ in range(LOOKUPS):
        x = (centre[..., 0] + offsets.view(1, 1, n)).expand(-1, n, n)  # y offset slow, as the op's channels
        y = (centre[..., 1] + offsets.view(1, n, 1)).expand(-1, n, n)
        grid = torch.stack((2 * x / (W2 - 1) - 1, 2 * y / (H2 - 1) - 1), dim=-1)
        sampled = F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out.append(sampled.view(B, H, W, n * n).permute(0, 3, 1, 2))
    return torch.stack(out)


def inputs(B, C, H, W, device):
    fmap1 = torch.randn(B, C, H, W, device=device) / C**0.5
    fmap2 = torch.randn(B, C, H, W, device=device)
    coords = base_grid(B, H, W, device) + 4 * torch.randn(B, 2, H, W, device=device)
    return fmap1, fmap2, coords


SKIPPED = []  # (case, why): rows whose all-pairs volume does not fit the memory free now
RUN = {}  # the device and --quick of the cases made last


def available_bytes() -> float:
    """The memory the system reports available now (Linux), else unlimited."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    RUN.update(device=device, quick=quick)
    for name, B, C, H, W, modes in QUICK_CASES if quick else CASES:
        target = None if quick else TARGET.get(device)
        volume = B * (H * W) ** 2 * 4
        # The baseline holds the volume (twice with its gradient, and the
        # matmul's backward more); leave the machine a margin.
        need = volume * (5 if "forward+backward" in modes else 2)
        if device == "cpu" and need > available_bytes():
            SKIPPED.append(
                (name, f"the all-pairs volume ({volume / 2**30:.1f} GiB) needs ~{need / 2**30:.0f} GiB free")
            )
            continue

        def make(B=B, C=C, H=H, W=W, modes=modes):
            tensors = inputs(B, C, H, W, device)
            grad = torch.randn(LOOKUPS, B, (2 * RADIUS + 1) ** 2, H, W, device=device)
            return op_modes(ours, all_pairs, tensors, grad, modes)

        def notes(mode, ours_ms, B=B, H=H, W=W):
            n = (2 * RADIUS + 1) ** 2
            return {"output MB": B * n * H * W * 4 / 2**20, "volume MB": B * (H * W) ** 2 * 4 / 2**20}

        result.append(
            Case(
                "corr_lookup",
                f"{name}, {LOOKUPS} lookups",
                BASELINE,
                {m: target for m in modes},
                make,
                device,
                notes=notes,
            )
        )
    return result


_FOURK_SCRIPT = """
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
from benchmarks.corr_lookup import inputs, RADIUS
import vfi_ops
B, C, H, W = {size}
f1, f2, c = inputs(B, C, H, W, "cpu")
vfi_ops.corr_lookup(f1[:, :, :8], f2, c[:, :, :8], RADIUS)  # warm-up, small
with open("/proc/self/statm") as f:  # resident now (the inputs' temporaries are freed)
    before = int(f.read().split()[1]) * resource.getpagesize() / 1024
start = time.perf_counter()
out = vfi_ops.corr_lookup(f1, f2, c, RADIUS)
ms = (time.perf_counter() - start) * 1e3
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": ms, "peak_growth_mb": (after - before) / 1024, "output_mb": out.numel() * 4 / 2**20}}))
"""


def _wrap(text):
    return textwrap.wrap(text, 78, initial_indent="  ", subsequent_indent="  ")


def summary(section):
    lines = [line for name, why in SKIPPED for line in _wrap(f"{name}: not run, {why}")]
    if RUN.get("device") != "cpu" or RUN.get("quick"):
        return lines
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    B, C, H, W = FOURK
    volume_gb = B * (H * W) ** 2 * 4 / 1e9
    run = subprocess.run(
        [sys.executable, "-c", _FOURK_SCRIPT.format(root=root, size=FOURK)], capture_output=True, text=True
    )
    if run.returncode != 0:
        return lines + _wrap(f"1/8 of 4K ({H}x{W}), {C}ch: the op failed: {run.stderr.strip().splitlines()[-1:]}")
    r = json.loads(run.stdout.strip().splitlines()[-1])
    return lines + _wrap(
        f"1/8 of 4K ({H}x{W}), {C}ch, r={RADIUS}, one lookup, op only: {r['ms']:.0f} ms, peak memory growth "
        f"{r['peak_growth_mb']:.0f} MB (output {r['output_mb']:.0f} MB); the all-pairs volume would be "
        f"{volume_gb:.0f} GB (not run)"
    )
