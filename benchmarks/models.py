"""The DAIN-style model (models/dain.py) with vfi_ops' kernels against the same
model on the pure-PyTorch reference ops, end to end."""

import torch

from vfi_ops.models import DAIN

from .common import compare_modes

# (name, H, W, modes, rounds). At 1080p a forward takes seconds on a 2-core CPU
# (so one round), and the reference-op model's forward+backward needs over 20 GB,
# so there only the forward is timed.
BOTH = ("forward", "forward+backward")
CASES = [("256x448", 256, 448, BOTH, 5), ("1080p", 1080, 1920, ("forward",), 1)]
QUICK_CASES = [("quick 64x96", 64, 96, BOTH, 5)]

# Speedup target over the reference-op model (reported, never asserted).
TARGET = {"forward": None, "forward+backward": 1.5}


def vfi_ops_share(model, I0, I1, backward: bool) -> float:
    """The share (%) of the CPU time of a forward (and backward) spent in vfi_ops operators."""
    with torch.profiler.profile() as prof, torch.set_grad_enabled(backward):
        out = model(I0, I1, 0.5)
        if backward:
            out.mean().backward()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ours = sum(e.self_cpu_time_total for e in events if e.key.startswith("vfi_ops::"))
    return 100.0 * ours / max(total, 1e-9)


def run(device: str, quick: bool, min_run_time: float):
    dtype = torch.float32
    results = []
    for name, H, W, modes, rounds in QUICK_CASES if quick else CASES:
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
            if device != "cpu":
                return {}
            return {"% in vfi_ops ops": vfi_ops_share(custom, I0, I1, mode == "forward+backward")}

        results += compare_modes("DAIN model", name, device, dtype, custom, reference, "reference-op model",
                                 [(m, {"forward": forward, "forward+backward": forward_backward}[m]) for m in modes],
                                 TARGET, min_run_time, notes, rounds)
    return results
