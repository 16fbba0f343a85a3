"""Timing, bandwidth and reporting shared by the op benchmarks."""

import json
import platform
import statistics
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
import torch.utils.benchmark as tbench


@dataclass
class Result:
    op: str
    case: str
    device: str
    dtype: str
    mode: str  # "forward" or "forward+backward"
    ours_ms: float
    baseline: str
    baseline_ms: float
    target: Optional[float]  # the speedup we aim for (reported, never asserted), if any
    extra: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.baseline_ms / self.ours_ms


def smooth_flow(B, H, W, magnitude, device, dtype):
    """A smooth random flow (upsampled coarse noise), like real motion."""
    coarse = torch.randn(B, 2, max(2, H // 32), max(2, W // 32), device=device, dtype=dtype)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False) * magnitude


def median_ms(fn, min_run_time: float) -> float:
    """Median wall time of fn() in ms (torch.utils.benchmark synchronises CUDA)."""
    fn()  # warm-up (lazy initialisation, allocator)
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def compare_ms(ours, baseline, min_run_time: float, rounds: int = 5):
    """Medians of ours() and baseline() in ms, timed in alternating rounds so that
    drifting machine load (shared CPUs) affects both alike."""
    ours_ms, base_ms = [], []
    for _ in range(rounds):
        ours_ms.append(median_ms(ours, min_run_time / rounds))
        base_ms.append(median_ms(baseline, min_run_time / rounds))
    return statistics.median(ours_ms), statistics.median(base_ms)


def timing_modes(inputs, grad):
    """The (mode, make) pairs for compare_modes, for an op called as op(*inputs):
    the forward without autograd, and the forward and backward to every input."""

    def forward(op):
        def f():
            with torch.no_grad():
                return op(*inputs)
        return f

    def forward_backward(op):
        args = [t.clone().requires_grad_() for t in inputs]
        return lambda: torch.autograd.grad(op(*args), args, grad)

    return [("forward", forward), ("forward+backward", forward_backward)]


def compare_modes(op: str, case: str, device: str, dtype, ours, baseline, baseline_name: str, makers, targets,
                  min_run_time: float, extra=None, rounds: int = 5):
    """Results of ours against baseline for each (mode, make) in makers, where
    make(fn) returns the zero-argument callable to time; targets maps mode to the
    target speedup. extra(mode, ours_ms) may add notes. Cases that take seconds
    per call can ask for fewer alternating rounds."""
    results = []
    for mode, make in makers:
        ours_fn, base_fn = make(ours), make(baseline)
        ours_ms, base_ms = compare_ms(ours_fn, base_fn, 2 * min_run_time, rounds)
        notes = {}
        if device == "cuda":
            notes["peak MB"] = peak_memory_mb(ours_fn, device)
            notes["baseline peak MB"] = peak_memory_mb(base_fn, device)
        if extra is not None:
            notes.update(extra(mode, ours_ms))
        results.append(Result(op, case, device, str(dtype).replace("torch.", ""), mode, ours_ms, baseline_name,
                              base_ms, targets[mode], notes))
    return results


def copy_bandwidth_gbs(device: str, min_run_time: float, megabytes: int = 512) -> float:
    """Device memory bandwidth measured by a large copy (bytes read + written per second)."""
    n = megabytes * 2**20 // 4
    src = torch.empty(n, device=device)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), min_run_time)
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


def peak_memory_mb(fn, device: str) -> float:
    if not device.startswith("cuda"):
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def machine_info() -> dict:
    info = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def format_table(results) -> str:
    header = ["op", "case", "device", "dtype", "mode", "ours ms", "baseline ms", "speedup", "target", "notes"]
    rows = []
    for r in results:
        notes = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.extra.items())
        rows.append([r.op, r.case, r.device, r.dtype, r.mode, f"{r.ours_ms:.3f}", f"{r.baseline_ms:.3f}",
                     f"{r.speedup:.2f}x", "-" if r.target is None else f">={r.target:.3g}x", notes])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def write_json(results, path: str) -> None:
    payload = {
        "machine": machine_info(),
        "results": [dict(asdict(r), speedup=r.speedup) for r in results],
    }
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
