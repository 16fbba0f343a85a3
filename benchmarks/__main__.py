"""python -m benchmarks: time every vfi_ops op against its plain-PyTorch baseline.

Prints a table and writes the numbers as JSON (--json). Medians from
torch.utils.benchmark, with all of torch's CPU threads.
"""

import argparse
import sys

import torch

import vfi_ops

from . import adaptive_warp, backward_warp, flow_projection, models, softsplat, sparse_masked_conv2d, ugsp
from .common import format_table, machine_info, write_json

BENCHMARKS = {"adaptive_warp": adaptive_warp, "backward_warp": backward_warp, "flow_projection": flow_projection,
              "softsplat": softsplat, "sparse_masked_conv2d": sparse_masked_conv2d, "models": models, "ugsp": ugsp}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="where to run (default: the CPU, and CUDA when a GPU is visible)")
    parser.add_argument("--ops", nargs="+", choices=sorted(BENCHMARKS), default=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the speed")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timing per measurement")
    parser.add_argument("--json", default="bench_results.json", help="where to write the results")
    args = parser.parse_args(argv)

    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            parser.error("--device cuda: no GPU is visible")
        devices.remove("cuda")

    print("machine:", ", ".join(f"{k} {v}" for k, v in machine_info().items()))
    print(f"vfi_ops {vfi_ops.__version__}; ops with CUDA kernels: {', '.join(vfi_ops.build_info()['ops with CUDA kernels']) or 'none'}")
    results = []
    for device in devices:
        for name in args.ops:
            results += BENCHMARKS[name].run(device, args.quick, args.min_run_time)
    print(format_table(results))
    write_json(results, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
