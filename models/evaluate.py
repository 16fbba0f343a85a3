"""PSNR and SSIM of interpolated middle frames, beside the linear-blend baseline.

    vfi-evaluate --middlebury DIR [--checkpoint CKPT]
    vfi-evaluate --vimeo ROOT [--list tri_testlist.txt] [--checkpoint CKPT]

Middlebury layout: ``DIR/<sequence>/frame10.png, frame11.png`` and the middle
frame ``frame10i11.png``. Vimeo90K layout: ``ROOT/<list>`` names ``a/b`` folders
of ``ROOT/sequences/a/b/im1.png, im2.png, im3.png``. Predictions are rounded to
8 bits before scoring, as the written files would be.
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .data import read_image


def psnr(prediction: Tensor, target: Tensor) -> float:
    """In dB, for values in [0, 1]."""
    mse = F.mse_loss(prediction.double(), target.double()).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()


def ssim(prediction: Tensor, target: Tensor) -> float:
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window with
    sigma 1.5, per channel over the valid region, averaged; values in [0, 1]."""
    x, y = prediction.double().reshape(-1, 1, *prediction.shape[-2:]), target.double().reshape(-1, 1, *target.shape[-2:])
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-coords ** 2 / (2 * 1.5 ** 2))
    g = (g / g.sum()).to(x.device)
    window = (g[:, None] * g[None, :])[None, None]
    blur = lambda z: F.conv2d(z, window)
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.mean().item()


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
    return [(n, *(os.path.join(root, "sequences", n, f"im{i}.png") for i in (1, 3, 2))) for n in names]


def evaluate(triplets, methods: Dict[str, object], device="cpu") -> Dict[str, Dict[str, Tuple[float, float]]]:
    """{method: {sequence: (psnr, ssim)}} for methods mapping a name to f(I0, I1) -> middle frame."""
    scores: Dict[str, Dict[str, Tuple[float, float]]] = {m: {} for m in methods}
    for name, p0, p1, p_mid in triplets:
        I0, I1, target = (read_image(p)[None].to(device) for p in (p0, p1, p_mid))
        if I0.shape != I1.shape or I0.shape != target.shape:
            raise ValueError(f"{name}: frames of different sizes ({tuple(I0.shape)}, {tuple(I1.shape)}, {tuple(target.shape)})")
        for method, fn in methods.items():
            with torch.no_grad():
                prediction = (fn(I0, I1).clamp(0, 1) * 255).round() / 255
            scores[method][name] = (psnr(prediction, target), ssim(prediction, target))
    return scores


def format_scores(scores) -> str:
    methods = list(scores)
    names = list(next(iter(scores.values())))
    header = "| sequence | " + " | ".join(f"{m} PSNR | {m} SSIM" for m in methods) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(methods))]
    for name in names + ["mean"]:
        cells = []
        for m in methods:
            values = list(scores[m].values()) if name == "mean" else [scores[m][name]]
            cells += [f"{sum(v[0] for v in values) / len(values):.2f}", f"{sum(v[1] for v in values) / len(values):.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vfi-evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--middlebury", help="folder of <sequence>/frame10.png, frame11.png, frame10i11.png")
    parser.add_argument("--vimeo", help="root of a Vimeo90K-layout triplet set")
    parser.add_argument("--list", default="tri_testlist.txt", help="list file under --vimeo")
    parser.add_argument("--checkpoint", help="a model trained by vfi-train (without it: the blend baseline only)")
    parser.add_argument("--keep", type=float, nargs="*", default=[],
                        help="UGSP checkpoints: fractions S_t to score (besides its dense mode)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the scores here")
    args = parser.parse_args(argv)
    if not args.middlebury and not args.vimeo:
        parser.error("give --middlebury DIR or --vimeo ROOT")
    try:
        triplets = middlebury_triplets(args.middlebury) if args.middlebury else vimeo_triplets(args.vimeo, args.list)
        methods = {"linear blend": lambda a, b: 0.5 * (a + b)}
        if args.checkpoint:
            from .interpolate import load_checkpoint_for_inference
            from .ugsp import UGSP

            model = load_checkpoint_for_inference(args.checkpoint, args.device)
            if isinstance(model, UGSP):
                for keep in args.keep or [None]:
                    name = "model" if keep is None else f"model S_t={keep:g}"
                    methods[name] = lambda a, b, keep=keep: model(a, b, 0.5, keep=keep)
                methods["model dense"] = lambda a, b: model(a, b, 0.5, mode="dense")
            elif args.keep:
                raise ValueError("--keep applies to UGSP checkpoints")
            else:
                methods["model"] = lambda a, b: model(a, b, 0.5)
        scores = evaluate(triplets, methods, args.device)
    except (FileNotFoundError, ValueError) as err:
        print(f"vfi-evaluate: {err}", file=sys.stderr)
        return 2
    print(format_scores(scores))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
