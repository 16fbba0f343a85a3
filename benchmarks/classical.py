"""Classical-flow interpolation (vfi_ops.models.ClassicalFlow): how its defaults were picked, and its speed.

    python -m benchmarks.classical [--settings] [--softsplat] [--time] [--threads N]

--settings scores every DIS preset and finest scale on two sets of synthetic
triplets (procedural textures, a background and an occluding ellipse moving
with known motion, t uniform in (0.1, 0.9); vfi_ops.models.data.SyntheticTriplets)
against linear blending: mean PSNR of the 8-bit frame at t. The defaults are
chosen here, never on the real-frame evaluation sets.

--softsplat scores the softmax-splatting variant (warp="softsplat") at several
strengths alpha of its brightness-constancy metric on the same triplets, beside
the projection pipeline: the default alpha is chosen there.

--time gives the time per 1080p pair (generated frames moving ~10 px), the
DIS flow (OpenCV) and vfi_ops (projection and two warps) separately, as medians
(and minima) of several runs. With neither option, both run.
"""

import argparse
import statistics
import time

import torch
from vfi_ops.models.classical import PRESETS, ClassicalFlow
from vfi_ops.models.data import SyntheticTriplets, procedural_texture, shift
from vfi_ops.models.evaluate import psnr

SETS = ((256, 16.0, 40), (384, 24.0, 24))  # (size, max motion in px, triplets)


def quantize(x):
    return (x.clamp(0, 1) * 255).round() / 255


def settings_table() -> None:
    print(
        "| preset | finest scale | "
        + " | ".join(f"{s}x{s}, motion <= {m:g} px: PSNR dB" for s, m, _ in SETS)
        + " | flow ms per pair (first set) |"
    )
    print("|---|---|" + "---|" * (len(SETS) + 1))
    sets = [[SyntheticTriplets(length=n, size=s, max_motion=m, seed=1)[i] for i in range(n)] for s, m, n in SETS]
    blend = [statistics.mean(psnr(quantize((1 - t) * a + t * b), mid) for a, mid, b, t in items) for items in sets]
    print("| linear blend | | " + " | ".join(f"{p:.2f}" for p in blend) + " | |")
    for preset in PRESETS:
        for finest in (None, 0, 1, 2):
            model, scores, flow_ms = ClassicalFlow(preset, finest), [], None
            for items in sets:
                model.timings.update(flow=0.0, flows=0)
                scores.append(
                    statistics.mean(
                        psnr(quantize(model(a[None], b[None], float(t))), mid[None]) for a, mid, b, t in items
                    )
                )
                flow_ms = flow_ms or 1000 * model.timings["flow"] / model.timings["flows"]
            label = "preset's" if finest is None else str(finest)
            print(
                f"| {preset} | {label} | " + " | ".join(f"{p:.2f}" for p in scores) + f" | {flow_ms:.1f} |", flush=True
            )


ALPHAS = (1.0, 5.0, 10.0, 20.0, 50.0)


def softsplat_table() -> None:
    print("| warp | alpha | " + " | ".join(f"{s}x{s}, motion <= {m:g} px: PSNR dB" for s, m, _ in SETS) + " |")
    print("|---|---|" + "---|" * len(SETS))
    sets = [[SyntheticTriplets(length=n, size=s, max_motion=m, seed=1)[i] for i in range(n)] for s, m, n in SETS]
    for warp, alpha in [("projection", None)] + [("softsplat", alpha) for alpha in ALPHAS]:
        model = ClassicalFlow(warp=warp, alpha=alpha or 1.0)
        scores = [
            statistics.mean(psnr(quantize(model(a[None], b[None], float(t))), mid[None]) for a, mid, b, t in items)
            for items in sets
        ]
        print(
            f"| {warp} | {'' if alpha is None else f'{alpha:g}'} | " + " | ".join(f"{p:.2f}" for p in scores) + " |",
            flush=True,
        )


def time_1080p(runs: int = 7) -> None:
    g = torch.Generator().manual_seed(0)
    texture = procedural_texture(1200, g)[:, :1100, :1960]
    I0 = texture[None, :, 10:1090, 20:1940]
    I1 = shift(texture, 8.0, -5.0)[None, :, 10:1090, 20:1940]
    model = ClassicalFlow()
    model(I0, I1, 0.5)  # warm-up
    flow, ops = [], []
    for _ in range(runs):
        model.timings.update(flow=0.0, vfi_ops=0.0)
        model(I0, I1, 0.5)
        flow.append(1000 * model.timings["flow"])
        ops.append(1000 * model.timings["vfi_ops"])
    total = [f + o for f, o in zip(flow, ops)]
    print(
        f"1080p pair, {model.extra_repr()}, {torch.get_num_threads()} threads, median (min) of {runs}: "
        f"flow (DIS) {statistics.median(flow):.0f} ({min(flow):.0f}) ms, "
        f"vfi_ops (projection + warps) {statistics.median(ops):.0f} ({min(ops):.0f}) ms, "
        f"total {statistics.median(total):.0f} ({min(total):.0f}) ms"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classical", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", action="store_true", help="score DIS presets and finest scales on synthetic data")
    parser.add_argument(
        "--softsplat", action="store_true", help="score the softsplat variant's alpha on synthetic data"
    )
    parser.add_argument("--time", action="store_true", help="time a 1080p pair")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    everything = not (args.settings or args.softsplat or args.time)
    if args.settings or everything:
        settings_table()
    if args.softsplat or everything:
        softsplat_table()
    if args.time or everything:
        time_1080p()
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
