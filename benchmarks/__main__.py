"""python -m benchmarks: time every vfi_ops op against its plain-PyTorch baseline.

Prints each row as soon as it is measured, then writes all of them as JSON
(--json). Each ratio is the median of at least 5 interleaved pairs (ours, then
the baseline, then ours again, ...), printed with its spread, with all of
torch's CPU threads; --busy also times every pair with one core kept busy by
another process. The default run (the op tables) takes a few minutes on a 2-core
CPU; --models adds the end-to-end model timings (much longer), --full also
every mask density of sparse_masked_conv2d and every mode of softsplat.
"""

import argparse
import contextlib
import importlib
import os
import sys
import textwrap
import time

import torch

import vfi_ops
from vfi_ops._op_list import OPS as OP_NAMES

from . import models, ugsp
from .common import LEGEND, BusyCore, format_busy, format_row, machine_info, measure, section_header, write_json

# benchmarks/<name>.py for every op of the list.
OPS = {name: importlib.import_module(f"{__package__}.{name}") for name in OP_NAMES}
MODELS = {"dain": models, "ugsp": ugsp}
BENCHMARKS = {**OPS, **MODELS}


def progress_bar(total: int):
    """A tqdm bar on stderr (rows go to stdout through it), or None without tqdm
    or when stderr is not a terminal (a log file)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total,
        unit="row",
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
        bar_format="{desc} {n}/{total} rows [{elapsed}<{remaining}]",
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "all"],
        default="all",
        help="where to run (default: the CPU, and CUDA when a GPU is visible)",
    )
    parser.add_argument(
        "--ops",
        nargs="+",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"only these benchmarks, of: {', '.join(BENCHMARKS)} (default: the {len(OPS)} ops)",
    )
    parser.add_argument("--models", action="store_true", help="also time the DAIN-style and UGSP-style models")
    parser.add_argument(
        "--full", action="store_true", help="everything: the models and every mask density of sparse_masked_conv2d"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the speed")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds of timing for each side of a row (default 1)"
    )
    parser.add_argument(
        "--busy",
        action="store_true",
        help="also time each pair with one core kept busy by another process (a busy loop), as data-loading"
        " workers do during training; a line under each row says how much slower ours and the baseline ran",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="TEXT",
        help="only the cases whose name contains one of these texts (e.g. 1080p), of those the other options choose",
    )
    parser.add_argument(
        "--json",
        default="bench_results.json",
        help="where to write the results (rewritten after every row, so a run cut short keeps what it measured)",
    )
    args = parser.parse_args(argv)

    names = args.ops or list(OPS) + (list(MODELS) if args.models or args.full else [])
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            parser.error("--device cuda: no GPU is visible")
        devices.remove("cuda")

    info = vfi_ops.build_info()
    cuda = "all ops" if info["ops with CUDA kernels"] == info["ops"] else ", ".join(info["ops with CUDA kernels"])
    print(textwrap.fill("machine: " + ", ".join(f"{k} {v}" for k, v in machine_info().items()), 80))
    print(textwrap.fill(f"vfi_ops {vfi_ops.__version__}; CUDA kernels: {cuda or 'none (a CPU-only build)'}", 80))
    print(LEGEND)
    sections = [
        (device, name, BENCHMARKS[name].cases(device, args.quick, args.full, args.min_run_time))
        for device in devices
        for name in names
    ]
    if args.cases:
        sections = [
            (device, name, [c for c in cases if any(t in c.name for t in args.cases)])
            for device, name, cases in sections
        ]
    total = sum(len(case.modes) for _, _, cases in sections for case in cases)
    bar = progress_bar(total)
    write = bar.write if bar is not None else print
    start = time.perf_counter()
    results = []
    with contextlib.ExitStack() as stack:
        busy = stack.enter_context(BusyCore()) if args.busy else None
        for device, name, cases in sections:
            module = BENCHMARKS[name]
            if cases:
                write(
                    section_header(
                        cases[0].op,
                        module.BASELINE,
                        device,
                        cases[0].dtype,
                        getattr(module, "DESCRIPTION", None),
                        floor=any(case.bytes_moved is not None for case in cases),
                    )
                )
            section = []
            for case in cases:
                if bar is not None:
                    bar.set_description_str(f"{name}: {case.name}")
                for result in measure(case, args.min_run_time, busy):
                    section.append(result)
                    write_json(
                        results + section, args.json, {"wall_seconds": time.perf_counter() - start, "complete": False}
                    )
                    write(format_row(result))
                    if result.busy is not None:
                        write(format_busy(result))
                    if bar is not None:
                        bar.update(1)
            for line in getattr(module, "summary", lambda _: [])(section):
                write(line)
            results += section
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    missed = [r for r in results if r.met is False]
    near = [r for r in results if r.near]
    print(
        f"\n{len(results)} rows in {elapsed / 60:.1f} min; {len(missed)} missed a target, {len(near)} near one"
        f"{'' if args.models or args.full or args.ops else ' (the models: --models)'}"
    )
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min), on {os.cpu_count()} CPUs")
    write_json(results, args.json, {"wall_seconds": elapsed, "complete": True})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
