"""python -m benchmarks: time every vfi_ops op against its plain-PyTorch baseline.

Prints each row as soon as it is measured, then writes all of them as JSON
(--json). Medians of wall time from torch.utils.benchmark, with all of torch's
CPU threads. The default run (the op tables) takes a few minutes on a 2-core
CPU; --models adds the end-to-end model timings (much longer), --full also
every mask density of sparse_masked_conv2d and every mode of softsplat.
"""

import argparse
import sys
import textwrap
import time

import torch

import vfi_ops

from . import (
    adaptive_warp,
    backward_warp,
    corr_lookup,
    correlation,
    flow_projection,
    models,
    softsplat,
    sparse_masked_conv2d,
    ugsp,
)
from .common import LEGEND, format_row, machine_info, measure, section_header, write_json

OPS = {
    "backward_warp": backward_warp,
    "flow_projection": flow_projection,
    "adaptive_warp": adaptive_warp,
    "sparse_masked_conv2d": sparse_masked_conv2d,
    "softsplat": softsplat,
    "correlation": correlation,
    "corr_lookup": corr_lookup,
}
MODELS = {"dain": models, "ugsp": ugsp}
BENCHMARKS = {**OPS, **MODELS}


def progress_bar(total: int):
    """A tqdm bar on stderr (rows go to stdout through it), or None without tqdm."""
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
    parser.add_argument("--json", default="bench_results.json", help="where to write the results")
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
    total = sum(len(case.modes) for _, _, cases in sections for case in cases)
    bar = progress_bar(total)
    write = bar.write if bar is not None else print
    start = time.perf_counter()
    results = []
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
            for result in measure(case, args.min_run_time):
                section.append(result)
                write(format_row(result))
                if bar is not None:
                    bar.update(1)
        for line in getattr(module, "summary", lambda _: [])(section):
            write(line)
        results += section
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    missed = [r for r in results if r.met is False]
    print(
        f"\n{len(results)} rows in {elapsed / 60:.1f} min; {len(missed)} below their target"
        f"{'' if args.models or args.full or args.ops else ' (the models: --models)'}"
    )
    write_json(results, args.json, {"wall_seconds": elapsed})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
