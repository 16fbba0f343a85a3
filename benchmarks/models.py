"""The DAIN-style model (models/dain.py) with vfi_ops' kernels against the same
model on the pure-PyTorch reference ops, end to end."""

import torch

from models import DAIN

from .common import compare_modes

# (name, H, W, rounds): a 1080p forward+backward takes tens of seconds on a 2-core CPU, so one round.
CASES = [("256x448", 256, 448, 5), ("1080p", 1080, 1920, 1)]
QUICK_CASES = [("quick 64x96", 64, 96, 5)]

# Speedup target over the reference-op model (reported, never asserted).
TARGET = {"forward": None, "forward+backward": 1.5}


def vfi_ops_share(model, I0, I1) -> float:
    """The share (%) of the forward+backward CPU time spent in vfi_ops operators."""
    with torch.profiler.profile() as prof:
        model(I0, I1, 0.5).mean().backward()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ours = sum(e.self_cpu_time_total for e in events if e.key.startswith("vfi_ops::"))
    return 100.0 * ours / max(total, 1e-9)


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    for name, H, W, rounds in QUICK_CASES if quick else CASES:
        torch.manual_seed(0)
        custom = DAIN().to(device)
        reference = DAIN(ops="reference").to(device)
        reference.load_state_dict(custom.state_dict())
        I0 = torch.rand(1, 3, H, W, device=device, dtype=dtype)
        I1 = torch.rand(1, 3, H, W, device=device, dtype=dtype)

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

        def notes(mode, ours_ms):
            if mode != "forward+backward" or device != "cpu":
                return {}
            return {"% in vfi_ops ops": vfi_ops_share(custom, I0, I1)}

        results += compare_modes("DAIN model", name, device, dtype, custom, reference, "reference-op model",
                                 [("forward", forward), ("forward+backward", forward_backward)], TARGET,
                                 min_run_time, notes, rounds)
    return results
