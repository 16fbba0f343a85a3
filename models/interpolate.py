"""Interpolate frames with a trained DAIN-style model.

    vfi-interpolate A.png B.png -o OUT.png [--t 0.5] --checkpoint CKPT
    vfi-interpolate --frames DIR -o OUT_DIR --factor 4 --checkpoint CKPT

The second form multiplies the frame rate of a folder of frames (sorted by
name): between each pair it writes factor - 1 frames at t = k / factor, and
numbers all frames of the result 000000.png, 000001.png, ...

--tile N runs the model on overlapping N x N tiles (blended linearly over
--overlap pixels) so that frames of any size fit in memory, e.g. 4K on a 16 GB
GPU; motion larger than the overlap is then only seen within a tile.
"""

import argparse
import os
import sys
from typing import List, Optional

import torch
from torch import Tensor

from .checkpoint import load_model
from .data import IMAGE_EXTENSIONS, read_image, write_image
from .ugsp import UGSP


def tile_starts(n: int, tile: int, step: int) -> List[int]:
    """Tile origins covering [0, n): every `step`, the last one flush with the end."""
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile, step))
    return starts + [n - tile]


def ramp(n: int, overlap: int, device) -> Tensor:
    """Blending weights along a tile edge: rising over `overlap` pixels at both ends."""
    i = torch.arange(n, device=device, dtype=torch.float32)
    return torch.minimum(torch.ones_like(i), torch.minimum(i + 1, n - i) / max(1, overlap))


def interpolate(model, I0: Tensor, I1: Tensor, t: float, tile: Optional[int] = None, overlap: int = 64) -> Tensor:
    """model(I0, I1, t), on overlapping tiles when `tile` is given and the frames are larger."""
    model.check_inputs(I0, I1, t)
    H, W = I0.shape[2:]
    if tile is None or (H <= tile and W <= tile):
        with torch.no_grad():
            return model(I0, I1, t)
    if overlap >= tile:
        raise ValueError(f"--overlap ({overlap}) must be smaller than --tile ({tile})")
    out = torch.zeros_like(I0)
    total = torch.zeros(1, 1, H, W, device=I0.device, dtype=I0.dtype)
    for y in tile_starts(H, tile, tile - overlap):
        for x in tile_starts(W, tile, tile - overlap):
            h, w = min(tile, H), min(tile, W)
            window = (..., slice(y, y + h), slice(x, x + w))
            with torch.no_grad():
                piece = model(I0[window], I1[window], t)
            weight = (ramp(h, overlap, I0.device)[:, None] * ramp(w, overlap, I0.device)[None, :]).to(I0.dtype)
            out[window] += piece * weight
            total[window] += weight
    return out / total


def load_checkpoint_for_inference(path: str, device, keep: Optional[float] = None, dense: bool = False):
    """The model of a training checkpoint, with UGSP's pruning knob set (errors for other models)."""

    model = load_model(path, device)
    if isinstance(model, UGSP):
        model.set_inference(mode="dense" if dense else "sparse", keep=keep)
    elif keep is not None or dense:
        raise ValueError(f"--keep and --dense apply to UGSP checkpoints; {path} holds a {type(model).__name__}")
    if not hasattr(model, "check_inputs"):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an interpolation model")
    return model


def frame_paths(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder}")
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    if len(paths) < 2:
        raise ValueError(f"{folder} holds fewer than two frames")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vfi-interpolate", description=__doc__.splitlines()[0])
    parser.add_argument("frames_ab", nargs="*", metavar="FRAME", help="two frames A and B")
    parser.add_argument("--frames", help="a folder of frames, to multiply its frame rate by --factor")
    parser.add_argument("-o", "--output", required=True, help="the output image (or folder, with --frames)")
    parser.add_argument("--t", type=float, default=0.5, help="time of the output frame between A (0) and B (1)")
    parser.add_argument("--factor", type=int, default=2, choices=[2, 4, 8])
    parser.add_argument("--checkpoint", required=True, help="a model trained by vfi-train")
    parser.add_argument("--tile", type=int, help="run on tiles of this size (frames that do not fit in memory)")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
    parser.add_argument("--keep", type=float, help="UGSP checkpoints: fraction S_t of decoder positions computed")
    parser.add_argument("--dense", action="store_true", help="UGSP checkpoints: compute every position")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if bool(args.frames) == bool(args.frames_ab) or (args.frames_ab and len(args.frames_ab) != 2):
        parser.error("give two frames A B, or --frames DIR")

    try:
        model = load_checkpoint_for_inference(args.checkpoint, args.device, args.keep, args.dense)
        run = lambda a, b, t: interpolate(model, a[None].to(args.device), b[None].to(args.device), t, args.tile,
                                          args.overlap)
        if args.frames_ab:
            a, b = (read_image(p) for p in args.frames_ab)
            write_image(args.output, run(a, b, args.t))
            print(f"wrote {args.output}")
            return 0
        paths = frame_paths(args.frames)
        index, current = 0, read_image(paths[0])
        for path in paths[1:]:
            following = read_image(path)
            write_image(os.path.join(args.output, f"{index:06d}.png"), current)
            for k in range(1, args.factor):
                write_image(os.path.join(args.output, f"{index + k:06d}.png"), run(current, following, k / args.factor))
            index, current = index + args.factor, following
        write_image(os.path.join(args.output, f"{index:06d}.png"), current)
        print(f"wrote {index + 1} frames to {args.output}")
    except (FileNotFoundError, ValueError, TypeError) as err:
        print(f"vfi-interpolate: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
