"""PSNR and SSIM of interpolated middle frames: linear blending, the classical method and a checkpoint.

    vfi-evaluate --middlebury DIR [--checkpoint CKPT] [--json SCORES.json]
    vfi-evaluate --vimeo ROOT [--list tri_testlist.txt] [--checkpoint CKPT]

The classical method (optical flow and vfi_ops' occlusion-aware fusion,
vfi_ops.models.ClassicalFlow, default settings unless --flow, --flow-scale,
--dis-preset or --dis-finest-scale) is scored beside linear blending unless
--no-classical, with --projection its one-flow projection variant (the default
before) and with --softsplat its softmax-splatting variant too; with
--checkpoint the model is scored too (UGSP: at each --keep and dense). A line
per sequence on stderr tells the progress (unless --quiet); after the table:
the mean time per pair of each method.

Middlebury layout: ``DIR/<sequence>/frame10.png, frame11.png`` and the middle
frame ``frame10i11.png``. Vimeo90K layout: ``ROOT/<list>`` names ``a/b`` folders
of ``ROOT/sequences/a/b/im1.png, im2.png, im3.png``. Predictions are rounded to
8 bits before scoring, as the written files would be. Images are read upright
(their EXIF orientation applied). A method whose output holds NaN or infinity,
or a checkpoint whose weights do, is refused (exit status 2), naming it.
Needs the models extra: pip install 'vfi_ops[models]'.
"""

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from . import cli
from .classical import FLOWS, PRESETS
from .images import read_image
from .ssim import ssim as fast_ssim

PROG = "vfi-evaluate"


def psnr(prediction: Tensor, target: Tensor) -> float:
    """In dB, for values in [0, 1]."""
    mse = F.mse_loss(prediction.double(), target.double()).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()


def ssim(prediction: Tensor, target: Tensor) -> float:
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window with
    sigma 1.5, per channel over the valid region, averaged; values in [0, 1].
    Frames smaller than 11 pixels get the largest odd window that fits.
    Computed in float32 with a separable window (vfi_ops.models.ssim), within 1e-4
    of the float64 2-D computation."""
    return fast_ssim(prediction, target)


def library_errors() -> tuple:
    """OpenCV's error class where OpenCV is loaded: reported as a message, never a traceback."""
    cv2 = sys.modules.get("cv2")
    error = getattr(cv2, "error", None)
    return (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()


def middlebury_triplets(folder: str) -> List[Tuple[str, str, str, str]]:
    """(name, frame10, frame11, frame10i11) of every sequence folder that has all three."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder}")
    found = []
    for name in sorted(os.listdir(folder)):
        paths = [os.path.join(folder, name, f) for f in ("frame10.png", "frame11.png", "frame10i11.png")]
        if all(os.path.isfile(p) for p in paths):
            found.append((name, paths[0], paths[1], paths[2]))
    if not found:
        raise ValueError(f"{folder} holds no <sequence>/frame10.png, frame11.png, frame10i11.png")
    return found


def vimeo_triplets(root: str, list_file: str) -> List[Tuple[str, str, str, str]]:
    listing = os.path.join(root, list_file)
    if not os.path.isfile(listing):
        raise FileNotFoundError(f"no list file {listing}")
    with open(listing) as f:
        names = [line.strip() for line in f if line.strip()]
    triplets = [(n, *(os.path.join(root, "sequences", n, f"im{i}.png") for i in (1, 3, 2))) for n in names]
    if not triplets:
        raise ValueError(f"{listing} lists no sequences")
    for triplet in triplets:
        for path in triplet[1:]:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{triplet[0]}: no such image: {path}")
    return triplets


def evaluate(triplets, methods: Dict[str, object], device="cpu", progress=None):
    """({method: {sequence: (psnr, ssim)}}, {method: seconds}) for methods mapping a name to
    f(I0, I1) -> middle frame; predictions are rounded to 8 bits before scoring.
    ``progress(i, n, name, {method: (psnr, ssim, seconds)})`` is called after each triplet."""
    scores: Dict[str, Dict[str, Tuple[float, float]]] = {m: {} for m in methods}
    seconds = {m: 0.0 for m in methods}
    for index, (name, p0, p1, p_mid) in enumerate(triplets):
        this = {}
        I0, I1, target = (read_image(p)[None].to(device) for p in (p0, p1, p_mid))
        if I0.shape != I1.shape or I0.shape != target.shape:
            raise ValueError(
                f"{name}: frames of different sizes ({tuple(I0.shape)}, {tuple(I1.shape)}, {tuple(target.shape)})"
            )
        for method, fn in methods.items():
            started = time.perf_counter()
            with torch.no_grad():
                prediction = fn(I0, I1)
            if prediction.is_cuda:
                torch.cuda.synchronize(prediction.device)
            took = time.perf_counter() - started
            seconds[method] += took
            if not bool(torch.isfinite(prediction).all()):
                raise ValueError(f"{name}: the method {method!r} returned NaN or infinity; no scores written")
            prediction = (prediction.clamp(0, 1) * 255).round() / 255
            scores[method][name] = (psnr(prediction, target), ssim(prediction, target))
            this[method] = (*scores[method][name], took)
        if progress is not None:
            progress(index, len(triplets), name, this)
    return scores, seconds


def print_progress(index: int, count: int, name: str, results) -> None:
    """One line on stderr per triplet: its PSNR and time per method."""
    cells = ", ".join(f"{m} {p:.2f} dB {1000 * s:.0f} ms" for m, (p, _, s) in results.items())
    print(f"[{index + 1}/{count}] {name}: {cells}", file=sys.stderr, flush=True)


def format_scores(scores) -> str:
    """A Markdown table: PSNR (dB) and SSIM per sequence and method, and their means."""
    methods = list(scores)
    names = list(next(iter(scores.values())))
    header = "| sequence | " + " | ".join(f"{m} PSNR | {m} SSIM" for m in methods) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(methods))]
    for name in names + ["mean"]:
        cells = []
        for m in methods:
            values = list(scores[m].values()) if name == "mean" else [scores[m][name]]
            cells += [
                f"{sum(v[0] for v in values) / len(values):.2f}",
                f"{sum(v[1] for v in values) / len(values):.4f}",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_scores(scores) -> dict:
    """scores for JSON: PSNR of identical frames (infinite) becomes null, so the file stays valid JSON."""
    return {m: {name: [None if math.isinf(p) else p, s] for name, (p, s) in per.items()} for m, per in scores.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument(
        "--middlebury", metavar="DIR", help="folder of <sequence>/frame10.png, frame11.png, frame10i11.png"
    )
    parser.add_argument("--vimeo", metavar="ROOT", help="root of a Vimeo90K-layout triplet set")
    parser.add_argument("--list", help="list file under --vimeo (default tri_testlist.txt)")
    parser.add_argument("--checkpoint", help="also score a model trained by vfi-train")
    parser.add_argument(
        "--keep",
        type=cli.real(0, 1),
        nargs="+",
        help="UGSP checkpoints: fractions S_t to score (besides its dense mode)",
    )
    parser.add_argument("--no-classical", action="store_true", help="leave out the classical method")
    parser.add_argument("--dis-preset", choices=PRESETS, default="medium", help="classical: DIS preset")
    parser.add_argument(
        "--dis-finest-scale",
        type=cli.integer(0),
        default=0,
        help="classical: finest DIS pyramid level (0 = full resolution)",
    )
    parser.add_argument(
        "--flow", choices=FLOWS, default="dis", help="classical: the optical flow (see vfi-interpolate --help)"
    )
    parser.add_argument(
        "--flow-scale",
        type=cli.real(0.25, 1),
        help="classical: estimate the flow at this scale, 0.25 to 1 (default: by frame size, 1 up to 1080p)",
    )
    parser.add_argument(
        "--softsplat",
        action="store_true",
        help="also score the classical method's softmax-splatting variant (both flows, softsplat)",
    )
    parser.add_argument(
        "--projection",
        action="store_true",
        help="also score the classical method's one-flow projection variant (the default before the fusion)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="where the methods run: cpu, cuda or cuda:N (default: cuda where available, else cpu)",
    )
    parser.add_argument(
        "--json",
        help="also write the scores here ([PSNR, SSIM] per method and sequence; PSNR null for identical frames)",
    )
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.middlebury) == bool(args.vimeo):
        parser.error("give --middlebury DIR or --vimeo ROOT")
    if args.list is not None and not args.vimeo:
        parser.error("--list applies with --vimeo")
    if args.keep and not args.checkpoint:
        parser.error("--keep applies with --checkpoint (a UGSP checkpoint)")
    if args.no_classical and (
        args.dis_preset != "medium"
        or args.dis_finest_scale != 0
        or args.softsplat
        or args.projection
        or args.flow != "dis"
        or args.flow_scale is not None
    ):
        parser.error(
            "--dis-preset, --dis-finest-scale, --flow, --flow-scale, --softsplat and --projection apply to "
            "the classical method (without --no-classical)"
        )
    try:
        device = cli.check_device(args.device)
        if args.json:
            cli.check_output_file(args.json, "--json", overwrite=True)
        if args.middlebury:
            triplets = middlebury_triplets(args.middlebury)
        else:
            triplets = vimeo_triplets(args.vimeo, args.list or "tri_testlist.txt")
        methods = {"linear blend": lambda a, b: 0.5 * (a + b)}
        classical_models = {}
        if not args.no_classical:
            from .classical import ClassicalFlow

            for name, warp, wanted in (
                ("classical", "fusion", True),
                ("classical projection", "projection", args.projection),
                ("classical softsplat", "softsplat", args.softsplat),
            ):
                if wanted:
                    model = ClassicalFlow(
                        args.dis_preset, args.dis_finest_scale, warp, flow=args.flow, flow_scale=args.flow_scale
                    )
                    classical_models[name] = model
                    methods[name] = lambda a, b, model=model: model(a, b, 0.5)
        if args.checkpoint:
            from .checkpoint import load_for_inference
            from .ugsp import UGSP

            model = load_for_inference(args.checkpoint, device)
            if isinstance(model, UGSP):
                for keep in args.keep or [None]:
                    name = "model" if keep is None else f"model S_t={keep:g}"
                    methods[name] = lambda a, b, keep=keep: model(a, b, 0.5, keep=keep)
                methods["model dense"] = lambda a, b: model(a, b, 0.5, mode="dense")
            elif args.keep:
                raise ValueError(
                    f"--keep applies to UGSP checkpoints; {args.checkpoint} holds a {type(model).__name__}"
                )
            else:
                methods["model"] = lambda a, b: model(a, b, 0.5)
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        scores, seconds = evaluate(triplets, methods, device, None if args.quiet else print_progress)
    except (FileNotFoundError, ValueError, TypeError, ImportError, *library_errors()) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    print(format_scores(scores))
    n = len(triplets)
    times = [f"{m} {1000 * s / n:.0f} ms" for m, s in seconds.items()]
    for i, name in enumerate(seconds):
        model = classical_models.get(name)
        if model is not None:
            times[i] += (
                f" (flow {1000 * model.timings['flow'] / n:.0f} ms, "
                f"vfi_ops {1000 * model.timings['vfi_ops'] / n:.0f} ms)"
            )
    print(f"\ntime per pair (mean of {n}, {device.type}, {torch.get_num_threads()} threads): " + "; ".join(times))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(json_scores(scores), f, indent=2, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
