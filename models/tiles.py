"""Tiled inference: a model run on overlapping tiles, for frames that do not fit in memory.

Tiles of ``tile`` x ``tile`` pixels start every ``tile - overlap`` pixels (the
last one flush with the frame's edge). Where tiles overlap they are blended
with weights that are zero on the outer quarter of the overlap along every
tile edge inside the frame, and rise linearly across its middle half. A pixel
within ``overlap // 4`` of such an edge, where the model saw padding instead
of the frame, never counts; so the result equals the untiled one wherever the
model needs at most ``overlap // 4`` pixels of context on each side (its
receptive field fits inside half the overlap). Models whose context is wider
(flow-based models see the whole frame) differ near tile edges, and motion
larger than the overlap is only seen within a tile.
"""

from typing import List, Optional

import torch
from torch import Tensor

from .checks import check_frames


class NonFiniteOutputError(ValueError):
    """The model returned NaN or infinity: the output is refused, never written."""


def tile_starts(n: int, tile: int, step: int) -> List[int]:
    """Tile origins covering [0, n): every `step`, the last one flush with the end."""
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile, step))
    return starts + [n - tile]


def edge_weights(start: int, length: int, n: int, overlap: int) -> Tensor:
    """Blending weights along one axis of a tile [start, start + length) of a frame of n pixels:
    0 within overlap // 4 of an edge inside the frame, then a linear rise over the overlap's
    middle half, 1 elsewhere; edges on the frame's border get no ramp."""
    margin, ramp = overlap // 4, overlap - 2 * (overlap // 4)
    i = torch.arange(length, dtype=torch.float64)
    inf = torch.full_like(i, float("inf"))
    distance = torch.minimum(i if start > 0 else inf, (length - 1 - i) if start + length < n else inf)
    return ((distance - margin + 1) / (ramp + 1)).clamp(0, 1)


def check_tiling(tile: Optional[int], overlap: int) -> None:
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
        raise ValueError(f"--tile must be a positive number of pixels, but got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f"--overlap must be a number of pixels >= 0, but got {overlap!r}")
    if tile is not None and overlap >= tile:
        raise ValueError(f"--overlap ({overlap}) must be smaller than --tile ({tile})")


def check_output(out, I0: Tensor, t: Tensor) -> Tensor:
    """The model's output, checked: a tensor of I0's shape, every value finite
    (NonFiniteOutputError otherwise, a ValueError)."""
    name = "interpolate()"
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: the model must return a tensor, but returned {type(out).__name__}")
    if out.shape != I0.shape:
        raise ValueError(f"{name}: the model returned shape {tuple(out.shape)}, expected the frames' {tuple(I0.shape)}")
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        raise NonFiniteOutputError(
            f"{name}: the model returned {int(bad.sum())} non-finite value(s) (NaN or infinity) out of "
            f"{out.numel()} for frames of {I0.shape[-1]}x{I0.shape[-2]} at t = {t.flatten().tolist()}; "
            "the output is refused"
        )
    return out


def interpolate(model, I0: Tensor, I1: Tensor, t, tile: Optional[int] = None, overlap: int = 64) -> Tensor:
    """``model(I0, I1, t)`` without autograd, on overlapping tiles (module docstring) when ``tile``
    is given and the frames are larger than it.

    Args:
        model: any callable ``model(I0, I1, t) -> [B, 3, H, W]``: one of vfi_ops.models' models, a
            plain ``nn.Module`` or a function. It receives the frames (or tiles of them) and t as
            checked here: t as a ``[B, 1, 1, 1]`` tensor of the frames' dtype and device.
        I0, I1: ``[B, 3, H, W]`` floating-point frames with values in [0, 1].
        t: a number in (0, 1), or a tensor of one per batch item.
        tile, overlap: tile size and overlap in pixels (None: untiled).

    Returns ``[B, 3, H, W]``. The frames and t are validated here, once (ValueError / TypeError
    naming the argument); the model's output must have the frames' shape and be finite:
    NaN or infinity raises NonFiniteOutputError (a ValueError), so no tool writes it.
    """
    check_tiling(tile, overlap)
    t = check_frames("interpolate()", I0, I1, t)
    H, W = I0.shape[2:]
    if tile is None or (H <= tile and W <= tile):
        with torch.no_grad():
            return check_output(model(I0, I1, t), I0, t)
    out = torch.zeros_like(I0)
    total = torch.zeros(1, 1, H, W, device=I0.device, dtype=I0.dtype)
    h, w = min(tile, H), min(tile, W)
    for y in tile_starts(H, tile, tile - overlap):
        for x in tile_starts(W, tile, tile - overlap):
            window = (..., slice(y, y + h), slice(x, x + w))
            with torch.no_grad():
                piece = check_output(model(I0[window], I1[window], t), I0[window], t)
            weight = edge_weights(y, h, H, overlap)[:, None] * edge_weights(x, w, W, overlap)[None, :]
            weight = weight.to(device=I0.device, dtype=I0.dtype)
            out[window] += piece * weight
            total[window] += weight
    return out / total
