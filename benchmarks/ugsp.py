"""The UGSP-style model (models/ugsp.py): sparse inference (sparse_masked_conv2d
where the masks are on) against its own dense mode, same weights, at several
fractions S_t of the decoder positions computed."""

import torch

from vfi_ops.models.ugsp import UGSP, count_macs

from .common import compare_modes

# (name, H, W, rounds)
CASES = [("256x448", 256, 448, 5), ("1080p", 1080, 1920, 2)]
QUICK_CASES = [("quick 64x96", 64, 96, 5)]
KEEP = [0.1, 0.3, 0.5]

# Speedup targets of sparse over dense inference (reported, never asserted).
TARGET = {("cpu", 0.3): 1.8, ("cuda", 0.3): 1.5}


def run(device: str, quick: bool, min_run_time: float):
    results = []
    for name, H, W, rounds in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        model = UGSP().to(device).eval()
        I0 = torch.rand(1, 3, H, W, device=device)
        I1 = torch.rand(1, 3, H, W, device=device)
        dense_macs = count_macs(model, I0, I1, mode="dense")
        for keep in KEEP:
            def forward(mode):
                def f():
                    with torch.no_grad():
                        return model(I0, I1, 0.5, mode=mode, keep=keep)
                return f

            sparse_macs = count_macs(model, I0, I1, mode="sparse", keep=keep)
            notes = lambda mode, ms: {"GMAC sparse": sparse_macs / 1e9, "GMAC dense": dense_macs / 1e9,
                                      "MAC ratio": dense_macs / sparse_macs}
            results += compare_modes("UGSP model", f"{name} S_t={keep}", device, "float32", "sparse", "dense",
                                     "dense mode", [("forward", forward)],
                                     {"forward": TARGET.get((device, keep))}, min_run_time, notes, rounds)
    return results
