"""Classical-flow interpolation (vfi_ops.models.ClassicalFlow): how its defaults were picked, and its speed.

    python -m benchmarks.classical [--settings] [--softsplat] [--time] [--threads N]
    python -m benchmarks.classical --tuning DIR [--scales DIR]

--tuning DIR scores blending and the warps (fusion, projection, softsplat) on
real frames: DIR holds consecutive frames 000.png, 001.png, ... (the tuning
set, shared/data/sample_video); every other frame dropped and interpolated
back, triplets (i, i+1, i+2) and, for larger motion, (i, i+2, i+4): mean PSNR
of the 8-bit frames. --scales DIR scores flow_scale 1, 0.5 and 0.25 on 4K
frames (the same frames upscaled 4x, bicubic) with the time per pair.

--settings scores every DIS preset and finest scale on two sets of synthetic
triplets (procedural textures, a background and an occluding ellipse moving
with known motion, t uniform in (0.1, 0.9); vfi_ops.models.data.SyntheticTriplets)
against linear blending: mean PSNR of the 8-bit frame at t. The defaults are
chosen here, never on the real-frame evaluation sets.

--softsplat scores the softmax-splatting variant (warp="softsplat") at several
strengths alpha of its brightness-constancy metric on the same triplets, beside
the projection pipeline: the default alpha is chosen there.

--time gives the time per 1080p pair (generated frames moving ~10 px) of the
default (fusion) and of the projection, the flow (OpenCV) and vfi_ops
separately, as medians (and minima) of several runs, with the process's user
CPU time per pair (wall times inflate on a loaded machine; CPU time less so).
With no option, --settings, --softsplat and --time run.
"""

import argparse
import os
import resource
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


def user_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime


def time_1080p(runs: int = 5) -> None:
    g = torch.Generator().manual_seed(0)
    texture = procedural_texture(1200, g)[:, :1100, :1960]
    I0 = texture[None, :, 10:1090, 20:1940]
    I1 = shift(texture, 8.0, -5.0)[None, :, 10:1090, 20:1940]
    models = [ClassicalFlow(), ClassicalFlow(warp="projection")]
    for model in models:
        model(I0, I1, 0.5)  # warm-up
    results = {id(m): ([], [], []) for m in models}
    for _ in range(runs):  # interleaved, so that a change of load hits both alike
        for model in models:
            model.timings.update(flow=0.0, vfi_ops=0.0)
            cpu = user_seconds()
            model(I0, I1, 0.5)
            flow, ops, user = results[id(model)]
            flow.append(1000 * model.timings["flow"])
            ops.append(1000 * model.timings["vfi_ops"])
            user.append(1000 * (user_seconds() - cpu))
    for model in models:
        flow, ops, user = results[id(model)]
        total = [f + o for f, o in zip(flow, ops)]
        print(
            f"1080p pair, {model.extra_repr()}, {torch.get_num_threads()} threads, median (min) of {runs}: "
            f"flow {statistics.median(flow):.0f} ({min(flow):.0f}) ms, "
            f"vfi_ops {statistics.median(ops):.0f} ({min(ops):.0f}) ms, "
            f"total {statistics.median(total):.0f} ({min(total):.0f}) ms, "
            f"user CPU {statistics.median(user):.0f} ({min(user):.0f}) ms; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


def tuning_triplets(folder: str, count: int):
    from vfi_ops.models.images import read_image

    n = len([f for f in os.listdir(folder) if f.endswith(".png")])
    path = lambda i: os.path.join(folder, f"{i:03d}.png")  # noqa: E731
    near = [(path(i), path(i + 1), path(i + 2)) for i in range(0, n - 2, 2)]
    far = [(path(i), path(i + 2), path(i + 4)) for i in range(0, n - 4, 4)]
    return {"(i, i+1, i+2)": near[:count], "(i, i+2, i+4)": far[:count]}, read_image


def tuning_table(folder: str, count: int = 1000) -> None:
    sets, read_image = tuning_triplets(folder, count)
    methods = {
        "linear blend": None,
        "projection (before)": ClassicalFlow(warp="projection"),
        "fusion (default)": ClassicalFlow(),
        "softsplat": ClassicalFlow(warp="softsplat"),
    }
    print("| method | " + " | ".join(f"{k}, {len(v)} triplets: PSNR dB" for k, v in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))
    for name, model in methods.items():
        scores = []
        for triplets in sets.values():
            values = []
            for p0, p_mid, p1 in triplets:
                I0, mid, I1 = (read_image(p)[None] for p in (p0, p_mid, p1))
                out = 0.5 * (I0 + I1) if model is None else model(I0, I1, 0.5)
                values.append(psnr(quantize(out), mid))
            scores.append(statistics.mean(values))
        print(f"| {name} | " + " | ".join(f"{p:.2f}" for p in scores) + " |", flush=True)


def scales_table(folder: str, count: int = 4) -> None:
    sets, read_image = tuning_triplets(folder, count)
    triplets = sets["(i, i+2, i+4)"]
    frames = {}
    for triplet in triplets:
        for p in triplet:
            if p not in frames:
                x = read_image(p)[None]
                frames[p] = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic").clamp(0, 1)
    size = tuple(next(iter(frames.values())).shape[-2:])
    print(
        f"| flow_scale | {size[1]}x{size[0]}, {len(triplets)} triplets (i, i+2, i+4): PSNR dB | s per pair | user CPU s |"
    )
    print("|---|---|---|---|")
    for scale in (1.0, 0.5, 0.25):
        model, values, wall, user = ClassicalFlow(flow_scale=scale), [], 0.0, 0.0
        for p0, p_mid, p1 in triplets:
            started, cpu = time.perf_counter(), user_seconds()
            out = model(frames[p0], frames[p1], 0.5)
            wall, user = wall + time.perf_counter() - started, user + user_seconds() - cpu
            values.append(psnr(quantize(out), frames[p_mid]))
        n = len(triplets)
        print(f"| {scale:g} | {statistics.mean(values):.2f} | {wall / n:.2f} | {user / n:.2f} |", flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classical", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", action="store_true", help="score DIS presets and finest scales on synthetic data")
    parser.add_argument(
        "--softsplat", action="store_true", help="score the softsplat variant's alpha on synthetic data"
    )
    parser.add_argument("--time", action="store_true", help="time a 1080p pair")
    parser.add_argument("--tuning", metavar="DIR", help="score the warps on real consecutive frames in DIR")
    parser.add_argument("--scales", metavar="DIR", help="score flow scales on DIR's frames upscaled to 4K")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    everything = not (args.settings or args.softsplat or args.time or args.tuning or args.scales)
    if args.tuning:
        tuning_table(args.tuning)
    if args.scales:
        scales_table(args.scales)
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
