"""The DAIN-style model (models/dain.py) with vfi_ops' kernels against the same
model on the pure-PyTorch reference ops, end to end (with --models)."""

import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from vfi_ops.models import DAIN

from .common import Case

BASELINE = "reference ops"

# (name, H, W, modes). At 1080p a forward takes seconds on a 2-core CPU, and the
# reference-op model's forward+backward needs over 20 GB, so there only the forward is timed.
BOTH = ("forward", "forward+backward")
CASES = [("256x448, width 16", 256, 448, BOTH), ("1080p, width 16", 1080, 1920, ("forward",))]
QUICK_CASES = [("quick 64x96", 64, 96, BOTH)]

# Speedup target over the reference-op model (forward+backward: training).
TARGET = {"forward": None, "forward+backward": 1.5}


class VfiOpsTime(TorchDispatchMode):
    """Adds up the wall time spent inside vfi_ops operators (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.seconds = 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace != "vfi_ops":
            return func(*args, **(kwargs or {}))
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.seconds += time.perf_counter() - start
        return out


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, H, W, modes in QUICK_CASES if quick else CASES:
        ours = {}  # mode -> the vfi_ops model's callable, once the case is made

        def make(H=H, W=W, ours=ours):
            custom = DAIN().to(device)
            reference = DAIN(ops="reference").to(device)
            reference.load_state_dict(custom.state_dict())
            I0 = torch.rand(1, 3, H, W, device=device)
            I1 = torch.rand(1, 3, H, W, device=device)

            def forward(model):
                def f():
                    with torch.no_grad():
                        return model(I0, I1, 0.5)

                return f

            def forward_backward(model):
                def f():
                    model.zero_grad(set_to_none=True)
                    model(I0, I1, 0.5).mean().backward()

                return f

            ours.update({"forward": forward(custom), "forward+backward": forward_backward(custom)})
            return {
                "forward": (forward(custom), forward(reference)),
                "forward+backward": (forward_backward(custom), forward_backward(reference)),
            }

        def notes(mode, ours_ms, ours=ours):
            if device != "cpu":
                return {}
            with VfiOpsTime() as timer:
                ours[mode]()
            return {"% in vfi_ops ops": 100.0 * timer.seconds * 1e3 / ours_ms}

        result.append(
            Case(
                "DAIN model",
                name,
                BASELINE,
                {m: None if quick else TARGET[m] for m in modes},
                make,
                device,
                notes=notes,
            )
        )
    return result
