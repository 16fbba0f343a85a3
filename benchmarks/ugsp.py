"""The UGSP-style model (models/ugsp.py): sparse inference (sparse_masked_conv2d
where the masks are on) against its own dense mode, same weights, at several
fractions S_t of the decoder positions computed (with --models)."""

import torch
from vfi_ops.models.ugsp import UGSP, count_macs

from .common import Case

BASELINE = "its dense mode"

# (name, H, W)
SIZES = [("256x448", 256, 448), ("1080p", 1080, 1920)]
QUICK_SIZES = [("quick 64x96", 64, 96)]
KEEP = [0.1, 0.3, 0.5]

# Speedup targets of sparse over dense inference.
TARGET = {("cpu", 0.3): 1.8, ("cuda", 0.3): 1.5}


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for size, H, W in QUICK_SIZES if quick else SIZES:
        for keep in KEEP:
            macs = {}  # mode -> multiply-accumulates of one forward, once the case is made

            def make(H=H, W=W, keep=keep, macs=macs):
                model = UGSP().to(device).eval()
                I0 = torch.rand(1, 3, H, W, device=device)
                I1 = torch.rand(1, 3, H, W, device=device)
                macs.update(
                    sparse=count_macs(model, I0, I1, mode="sparse", keep=keep),
                    dense=count_macs(model, I0, I1, mode="dense"),
                )

                def forward(mode):
                    def f():
                        with torch.no_grad():
                            return model(I0, I1, 0.5, mode=mode, keep=keep)

                    return f

                return {"forward": (forward("sparse"), forward("dense"))}

            def notes(mode, ms, macs=macs):
                return {
                    "GMAC sparse": macs["sparse"] / 1e9,
                    "GMAC dense": macs["dense"] / 1e9,
                    "MAC ratio": macs["dense"] / macs["sparse"],
                }

            target = None if quick else TARGET.get((device, keep))
            result.append(
                Case("UGSP model", f"{size}, S_t = {keep}", BASELINE, {"forward": target}, make, device, notes=notes)
            )
    return result
