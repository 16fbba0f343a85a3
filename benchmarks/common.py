"""Cases, timing and reporting shared by the benchmarks.

A benchmark module gives ``BASELINE`` (the name in its section's header), its
cases (``cases(device, quick, full, min_run_time)``, a list of :class:`Case`),
and optionally ``DESCRIPTION`` (lines under the header) and ``summary(results)``
(lines under the section). The runner measures the cases one by one, each row
from interleaved pairs of ours and the baseline (:func:`paired_ms`), and prints
each row as soon as it is measured.
"""

import contextlib
import io
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

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
    ours_ms: float  # median over the pairs
    baseline: str
    baseline_ms: float  # median over the pairs
    target: Optional[float]  # the speedup we aim for (reported, never asserted), if any
    extra: dict = field(default_factory=dict)
    floor_ms: Optional[float] = None  # the memory floor: bytes moved / measured copy bandwidth
    floor_target: Optional[float] = None  # at most this many times the floor (aimed for, never asserted)
    # One entry per interleaved pair (ours timed, then the baseline): ms per call.
    # Empty for results made without pairs: then the speedup is the ratio of the medians.
    ours_pairs: List[float] = field(default_factory=list)
    baseline_pairs: List[float] = field(default_factory=list)
    # The same pairs timed while one other process keeps a core busy (--busy), if measured.
    busy_ours_pairs: List[float] = field(default_factory=list)
    busy_baseline_pairs: List[float] = field(default_factory=list)

    @property
    def ratios(self) -> List[float]:
        """baseline ms / ours ms of each pair."""
        return [b / o for o, b in zip(self.ours_pairs, self.baseline_pairs)]

    @property
    def speedup(self) -> float:
        """The median of the pairs' ratios (the ratio of the medians without pairs)."""
        ratios = self.ratios
        return statistics.median(ratios) if ratios else self.baseline_ms / self.ours_ms

    @property
    def spread(self) -> Tuple[float, float]:
        """The lowest and highest pair's ratio."""
        ratios = self.ratios or [self.speedup]
        return min(ratios), max(ratios)

    @property
    def times_floor(self) -> Optional[float]:
        return None if self.floor_ms is None else self.ours_ms / self.floor_ms

    @property
    def best_times_floor(self) -> Optional[float]:
        """The fastest pair's multiple of the floor (the end of its spread nearest the target)."""
        if self.floor_ms is None:
            return None
        return min(self.ours_pairs or [self.ours_ms]) / self.floor_ms

    @property
    def missed(self) -> List[str]:
        """The targets missed beyond doubt: "speedup" when even the best pair is below
        its target, "floor" when even the fastest pair is above its floor target."""
        missed = []
        if self.target is not None and self.spread[1] < self.target:
            missed.append("speedup")
        if self.floor_target is not None and self.floor_ms is not None and self.best_times_floor > self.floor_target:
            missed.append("floor")
        return missed

    @property
    def met(self) -> Optional[bool]:
        """False when a target is missed beyond doubt (see missed), True otherwise;
        None without targets."""
        if self.target is None and (self.floor_target is None or self.floor_ms is None):
            return None
        return not self.missed

    @property
    def near(self) -> bool:
        """No target missed beyond doubt, but a median on the wrong side of one."""
        if self.missed:
            return False
        below = self.target is not None and self.speedup < self.target
        above = self.floor_target is not None and self.floor_ms is not None and self.times_floor > self.floor_target
        return below or above

    @property
    def status(self) -> str:
        """What the table's status column says."""
        if self.met is None:
            return ""
        if self.missed:
            return "MISSED " + (self.missed[0] if len(self.missed) == 1 else "both")
        return "near" if self.near else "ok"

    @property
    def busy(self) -> Optional[dict]:
        """With one core busy: how much slower ours and the baseline ran (median of
        busy ms over the median of quiet ms), and the speedup and its spread then."""
        if not self.busy_ours_pairs:
            return None
        ratios = [b / o for o, b in zip(self.busy_ours_pairs, self.busy_baseline_pairs)]
        return {
            "ours slowdown": statistics.median(self.busy_ours_pairs) / self.ours_ms,
            "baseline slowdown": statistics.median(self.busy_baseline_pairs) / self.baseline_ms,
            "speedup": statistics.median(ratios),
            "spread": (min(ratios), max(ratios)),
        }


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
    """Medians of ours() and baseline() in ms, timed in alternating rounds (kept
    for callers of the older API; measure() times interleaved pairs)."""
    first = _once_ms(ours, device) + _once_ms(baseline, device)
    rounds = max(1, min(max_rounds, int(2 * min_run_time * 1e3 / max(first, 1e-3))))
    ours_ms, base_ms = [], []
    for _ in range(rounds):
        ours_ms.append(median_ms(ours, min_run_time / rounds))
        base_ms.append(median_ms(baseline, min_run_time / rounds))
    return statistics.median(ours_ms), statistics.median(base_ms)


MIN_PAIRS = 5  # the fewest pairs a ratio is the median of
MAX_PAIRS = 9


def _block_ms(fn, calls: int, device: str) -> float:
    """ms per call of `calls` back-to-back calls of fn."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - start) * 1e3 / calls


class BusyCore:
    """Another process that keeps one core busy with a loop, paused until resume().

    It stands for the work that shares the CPU with an op in practice (data-loading
    workers during training). A context manager: the process ends on exit."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        self.pause()

    def pause(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)
        time.sleep(0.02)  # let it get scheduled before timing starts

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def paired_ms(ours, baseline, device: str, min_run_time: float, busy: Optional[BusyCore] = None):
    """Interleaved pairs: ours timed, then the baseline, then ours again, ...

    Returns (ours ms, baseline ms) per pair (and, with `busy`, the same again
    with the busy core running, each busy pair right after its quiet one). Each
    side of a pair is a block of back-to-back calls lasting about
    min_run_time / pairs; there are MIN_PAIRS to MAX_PAIRS pairs (more where calls
    are quick), so a row costs about 2 * min_run_time, or MIN_PAIRS calls of each
    side where calls are slow. One call of each first: warm-up, lazy
    initialisation, and the call time that sizes the blocks."""
    t_ours, t_base = _once_ms(ours, device), _once_ms(baseline, device)
    budget = 2 * min_run_time * 1e3  # ms for the whole row
    pairs = MIN_PAIRS
    while pairs + 2 <= MAX_PAIRS and (pairs + 2) * (t_ours + t_base) <= budget / 4:
        pairs += 2  # odd, so that the median is one pair's ratio
    side = budget / 2 / pairs
    n_ours = max(1, round(side / max(t_ours, 1e-3)))
    n_base = max(1, round(side / max(t_base, 1e-3)))
    quiet, loaded = ([], []), ([], [])
    for _ in range(pairs):
        quiet[0].append(_block_ms(ours, n_ours, device))
        quiet[1].append(_block_ms(baseline, n_base, device))
        if busy is not None:
            busy.resume()
            try:
                loaded[0].append(_block_ms(ours, n_ours, device))
                loaded[1].append(_block_ms(baseline, n_base, device))
            finally:
                busy.pause()
    return quiet, loaded


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


def measure(case: Case, min_run_time: float, busy: Optional[BusyCore] = None):
    """The case's rows, one per mode, each yielded as soon as it is measured
    (with `busy`, also timed with that process keeping a core busy)."""
    torch.manual_seed(0)
    fns = case.make()
    for mode in case.modes:
        ours, baseline = fns[mode]
        quiet, loaded = paired_ms(ours, baseline, case.device, min_run_time, busy)
        ours_ms, base_ms = statistics.median(quiet[0]), statistics.median(quiet[1])
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
            notes["effective GB/s"] = nbytes / (ours_ms * 1e-3) / 1e9
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
            quiet[0],
            quiet[1],
            loaded[0],
            loaded[1],
        )


def machine_info() -> dict:
    info = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if hasattr(os, "getloadavg"):  # other work on the machine, which the timings share it with
        info["load average (1 min)"] = round(os.getloadavg()[0], 1)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# The printed table: one section per op and device, one row per case and mode.
COLUMNS = [
    ("case", 26, "<"),
    ("mode", 7, "<"),
    ("ours ms", 7, ">"),
    ("base ms", 7, ">"),
    ("speedup", 7, ">"),
    ("spread", 9, ">"),
    ("target", 6, ">"),
    ("status", 14, "<"),
]
# Sections whose cases report a memory floor: shorter case names and the
# multiple of the floor before the status (its target is in the section's
# description; floor ms in the JSON).
FLOOR_COLUMNS = [
    ("case", 21, "<"),
    ("mode", 7, "<"),
    ("ours ms", 7, ">"),
    ("base ms", 7, ">"),
    ("speedup", 7, ">"),
    ("spread", 9, ">"),
    ("target", 6, ">"),
    ("x floor", 7, ">"),
    ("status", 14, "<"),
]

LEGEND = """\
Each row: a case, timed forward only (fwd, no autograd) or forward and backward
to every input (fwd+bwd), in at least 5 interleaved pairs (ours timed, then the
baseline, then ours again, ...). ours ms, base ms: medians of wall time per
call, the baseline named in the section's header (the fastest plain-PyTorch way
a user would write, unless the header says otherwise). speedup: the median of
the pairs' ratios base ms / ours ms; spread: the lowest and highest pair's
ratio; target: the speedup aimed for (-: none). x floor, where shown: ours ms
over the memory floor, the time to move the least bytes the op must move
(inputs read once, outputs written once) at the copy bandwidth measured on the
device (1x: as fast as a copy of those bytes; lower is better; the section says
its target). status: ok (every target met); near (a median on the wrong side of
a target, but some pairs meet it); MISSED speedup, MISSED floor or MISSED both
(even the best pair misses that target, or both). With --busy, a line under
each row: the same pairs timed with one core kept busy by another process."""


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


def _ratio(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _spread(low: float, high: float) -> str:
    return f"{_ratio(low)}-{_ratio(high)}"


def _ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 10000 else f"{x:.0f}"


def format_row(r: Result) -> str:
    target = "-" if r.target is None else f"{r.target:.2g}x"
    cells = [r.case, MODE_LABELS[r.mode], _ms(r.ours_ms), _ms(r.baseline_ms), f"{_ratio(r.speedup)}x"]
    cells += [_spread(*r.spread), target]
    columns = COLUMNS if r.floor_ms is None else FLOOR_COLUMNS
    cells += [r.status] if r.floor_ms is None else [f"{r.times_floor:.1f}x", r.status]
    if len(r.case) <= columns[0][1]:
        return _cells(cells, columns)
    # A case name longer than its column: on a line of its own, the row under it.
    return r.case + "\n" + _cells(["  ..."] + cells[1:], columns)


def format_busy(r: Result) -> Optional[str]:
    """The line under a row measured with one core busy, or None."""
    busy = r.busy
    if busy is None:
        return None
    return (
        f"  one core busy: ours {busy['ours slowdown']:.2f}x its quiet time, base {busy['baseline slowdown']:.2f}x;"
        f" speedup {_ratio(busy['speedup'])}x ({_spread(*busy['spread'])})"
    )


def write_json(results, path: str, extra: Optional[dict] = None) -> None:
    payload = {
        "machine": machine_info(),
        "results": [
            dict(
                asdict(r),
                speedup=r.speedup,
                spread=r.spread,
                times_floor=r.times_floor,
                target_met=r.met,
                missed=r.missed,
                status=r.status,
                busy=r.busy,
            )
            for r in results
        ],
    }
    payload.update(extra or {})
    # Written whole, then renamed over the old file: a run stopped mid-write leaves the last complete one.
    with open(path + ".tmp", "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(path + ".tmp", path)
