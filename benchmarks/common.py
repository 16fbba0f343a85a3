"""Cases, timing and reporting shared by the benchmarks.

Each benchmark module lists its cases (``cases(device, quick, full)``); the
runner measures them one by one and prints each row as soon as it is measured.
"""

import contextlib
import io
import json
import logging
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional, Tuple

import torch

# torch.utils.benchmark imports torch.utils.cpp_extension, which reports the
# CUDA_HOME it found when a CUDA build of torch sees no GPU (a logged warning on
# newer torch, a print to stderr on older): not ours to print.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
with contextlib.redirect_stderr(io.StringIO()):
    import torch.utils.benchmark as tbench

MODES = ("forward", "forward+backward")
MODE_LABELS = {"forward": "fwd", "forward+backward": "fwd+bwd"}


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
    floor_ms: Optional[float] = None  # the memory floor: bytes moved / measured copy bandwidth
    floor_target: Optional[float] = None  # at most this many times the floor (aimed for, never asserted)

    @property
    def speedup(self) -> float:
        return self.baseline_ms / self.ours_ms

    @property
    def times_floor(self) -> Optional[float]:
        return None if self.floor_ms is None else self.ours_ms / self.floor_ms

    @property
    def met(self) -> Optional[bool]:
        """Whether every target of the row (speedup, floor) is met; None without targets."""
        checks = []
        if self.target is not None:
            checks.append(self.speedup >= self.target)
        if self.floor_target is not None and self.floor_ms is not None:
            checks.append(self.times_floor <= self.floor_target)
        return None if not checks else all(checks)


@dataclass
class Case:
    """One case of one benchmark: its rows are its modes.

    make() builds the inputs and returns {mode: (ours, baseline)}, two
    zero-argument callables per mode; it runs only when the case is measured.
    notes(mode, ours_ms) may add notes to the JSON. bytes_moved(mode), if given,
    is the least memory traffic of ours in that mode (every input read once,
    every output written once): the row then reports its memory floor, those
    bytes at the copy bandwidth measured on the device, and floor_targets
    (mode -> at most this many times the floor) are checked against it.
    """

    op: str
    name: str
    baseline: str
    targets: Dict[str, Optional[float]]  # mode -> target speedup (None: no target); its keys are the modes
    make: Callable[[], Dict[str, Tuple[Callable, Callable]]]
    device: str = "cpu"
    dtype: str = "float32"
    notes: Optional[Callable[[str, float], dict]] = None
    bytes_moved: Optional[Callable[[str], float]] = None
    floor_targets: Dict[str, Optional[float]] = field(default_factory=dict)

    @property
    def modes(self):
        return list(self.targets)


def smooth_flow(B, H, W, magnitude, device, dtype):
    """A smooth random flow (upsampled coarse noise), like real motion."""
    coarse = torch.randn(B, 2, max(2, H // 32), max(2, W // 32), device=device, dtype=dtype)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False) * magnitude


def op_modes(ours, baseline, inputs, grad, modes=MODES):
    """{mode: (ours, baseline)} for ops called as fn(*inputs): the forward without
    autograd, and the forward and backward to every input."""

    def forward(fn):
        def f():
            with torch.no_grad():
                return fn(*inputs)

        return f

    def forward_backward(fn):
        args = [t.clone().requires_grad_() for t in inputs]
        return lambda: torch.autograd.grad(fn(*args), args, grad)

    make = {"forward": forward, "forward+backward": forward_backward}
    return {mode: (make[mode](ours), make[mode](baseline)) for mode in modes}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _once_ms(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return (time.perf_counter() - start) * 1e3


def median_ms(fn, min_run_time: float) -> float:
    """Median wall time of fn() in ms over blocks of calls (torch.utils.benchmark
    synchronises CUDA)."""
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def compare_ms(ours, baseline, device: str, min_run_time: float, max_rounds: int = 5):
    """Medians of ours() and baseline() in ms, timed in alternating rounds so that
    drifting machine load (shared CPUs) affects both alike. One call of each
    first (warm-up, lazy initialisation); calls that take long get fewer rounds,
    so that a row costs about 2 * min_run_time plus a few calls."""
    first = _once_ms(ours, device) + _once_ms(baseline, device)
    rounds = max(1, min(max_rounds, int(2 * min_run_time * 1e3 / max(first, 1e-3))))
    ours_ms, base_ms = [], []
    for _ in range(rounds):
        ours_ms.append(median_ms(ours, min_run_time / rounds))
        base_ms.append(median_ms(baseline, min_run_time / rounds))
    return statistics.median(ours_ms), statistics.median(base_ms)


def peak_memory_mb(fn, device: str) -> float:
    if not device.startswith("cuda"):
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def copy_bandwidth_gbs(device: str, min_run_time: float, megabytes: int = 512) -> float:
    """Device memory bandwidth measured by a large copy (bytes read + written per second)."""
    n = megabytes * 2**20 // 4
    src = torch.empty(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    ms = median_ms(lambda: dst.copy_(src), min_run_time)
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


_BANDWIDTH: Dict[str, float] = {}  # device -> copy bandwidth in GB/s, measured once per run


def memory_floor_ms(nbytes: float, device: str, min_run_time: float) -> float:
    """The time to move nbytes at the device's copy bandwidth (measured on first use)."""
    if device not in _BANDWIDTH:
        _BANDWIDTH[device] = copy_bandwidth_gbs(device, min_run_time)
    return nbytes / (_BANDWIDTH[device] * 1e9) * 1e3


def measure(case: Case, min_run_time: float):
    """The case's rows, one per mode, each yielded as soon as it is measured."""
    torch.manual_seed(0)
    fns = case.make()
    for mode in case.modes:
        ours, baseline = fns[mode]
        ours_ms, base_ms = compare_ms(ours, baseline, case.device, min_run_time)
        notes = {}
        if case.device == "cuda":
            notes["peak MB"] = peak_memory_mb(ours, case.device)
            notes["baseline peak MB"] = peak_memory_mb(baseline, case.device)
        if case.notes is not None:
            notes.update(case.notes(mode, ours_ms))
        floor_ms = None
        if case.bytes_moved is not None:
            nbytes = case.bytes_moved(mode)
            floor_ms = memory_floor_ms(nbytes, case.device, min_run_time)
            notes.update({"MB moved": nbytes / 1e6, "copy GB/s": _BANDWIDTH[case.device]})
        yield Result(
            case.op,
            case.name,
            case.device,
            case.dtype,
            mode,
            ours_ms,
            case.baseline,
            base_ms,
            case.targets[mode],
            notes,
            floor_ms,
            case.floor_targets.get(mode),
        )


def machine_info() -> dict:
    info = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# The printed table: one section per op and device, one row per case and mode.
COLUMNS = [
    ("case", 33, "<"),
    ("mode", 7, "<"),
    ("ours ms", 7, ">"),
    ("base ms", 7, ">"),
    ("speedup", 7, ">"),
    ("target", 6, ">"),
    ("", 6, "<"),
]
# Sections whose cases report a memory floor: shorter case names and the
# multiple of the floor before the status (its target is in the section's
# description; floor ms in the JSON).
FLOOR_COLUMNS = [
    ("case", 22, "<"),
    ("mode", 7, "<"),
    ("ours ms", 7, ">"),
    ("base ms", 7, ">"),
    ("speedup", 7, ">"),
    ("target", 6, ">"),
    ("x floor", 7, ">"),
    ("", 6, "<"),
]

LEGEND = """\
Each row: a case, timed forward only (fwd, no autograd) or forward and backward
to every input (fwd+bwd). ours ms: vfi_ops; base ms: the baseline named in the
section's header, the best plain-PyTorch way to compute the same thing; both
medians of wall time per call. speedup = base ms / ours ms; target: the speedup
aimed for (none: -); MISSED marks a row below a target. Where shown, x floor is
ours ms over the memory floor: the least bytes the op must move (inputs read
once, outputs written once) at the copy bandwidth measured on the device."""


def _cells(values, columns=COLUMNS):
    return " ".join(f"{str(v)[:w]:{a}{w}}" for v, (_, w, a) in zip(values, columns)).rstrip()


def section_header(
    op: str, baseline: str, device: str, dtype: str, description: Optional[str] = None, floor: bool = False
) -> str:
    columns = FLOOR_COLUMNS if floor else COLUMNS
    lines = ["", f"{op} vs {baseline} ({device}, {dtype})"]
    if description:
        lines += description.splitlines()
    lines += [_cells([c for c, _, _ in columns], columns), _cells(["-" * w for _, w, _ in columns], columns)]
    return "\n".join(lines)


def format_row(r: Result) -> str:
    target = "-" if r.target is None else f"{r.target:.2g}x"
    status = "" if r.met is None else ("ok" if r.met else "MISSED")
    cells = [r.case, MODE_LABELS[r.mode], f"{r.ours_ms:.1f}", f"{r.baseline_ms:.1f}", f"{r.speedup:.2f}x", target]
    if r.floor_ms is None:
        return _cells(cells + [status])
    return _cells(cells + [f"{r.times_floor:.1f}x", status], FLOOR_COLUMNS)


def write_json(results, path: str, extra: Optional[dict] = None) -> None:
    payload = {
        "machine": machine_info(),
        "results": [dict(asdict(r), speedup=r.speedup, times_floor=r.times_floor, target_met=r.met) for r in results],
    }
    payload.update(extra or {})
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
