"""The UGSP-style model (models/ugsp.py): sparse inference (sparse_masked_conv2d
where the masks are on) against its own dense mode, same weights, at several
fractions S_t of the decoder positions computed (with --models); at 256x448 also
a training step (fwd+bwd: forward, mean loss, backward to every weight) with the
hard masks of inference, the gradients going through sparse_masked_conv2d, against
the dense model's step."""

import torch
from vfi_ops.models.ugsp import UGSP, count_macs

from .common import MODES, Case

BASELINE = "its dense mode"

# (name, H, W, modes)
SIZES = [("256x448", 256, 448, MODES), ("1080p", 1080, 1920, ("forward",))]
QUICK_SIZES = [("quick 64x96", 64, 96, MODES)]
KEEP = [0.1, 0.3, 0.5]

# Speedup targets of sparse over dense: inference (forward) and a training step (forward+backward).
TARGET = {
    ("cpu", "forward", 0.3): 1.8,
    ("cuda", "forward", 0.3): 1.5,
    ("cpu", "forward+backward", 0.3): 1.5,
}


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for size, H, W, modes in QUICK_SIZES if quick else SIZES:
        for keep in KEEP:
            macs = {}  # mode -> multiply-accumulates of one forward, once the case is made

            def make(H=H, W=W, keep=keep, macs=macs, modes=modes):
                model = UGSP().to(device).eval()  # eval: the hard masks, also in the training step
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

                def step(mode):
                    def f():
                        model.zero_grad(set_to_none=True)
                        model(I0, I1, 0.5, mode=mode, keep=keep).mean().backward()

                    return f

                fns = {"forward": forward, "forward+backward": step}
                return {m: (fns[m]("sparse"), fns[m]("dense")) for m in modes}

            def notes(mode, ms, macs=macs):
                return {
                    "GMAC sparse": macs["sparse"] / 1e9,
                    "GMAC dense": macs["dense"] / 1e9,
                    "MAC ratio": macs["dense"] / macs["sparse"],
                }

            targets = {m: None if quick else TARGET.get((device, m, keep)) for m in modes}
            result.append(Case("UGSP model", f"{size}, S_t = {keep}", BASELINE, targets, make, device, notes=notes))
    return result
