"""Pure-PyTorch flow_projection: vectorised, with index_add for the splat.

Differentiable through autograd (the splat positions are constant), so it also
checks the hand-written gradients. Every op it uses is deterministic under
``torch.use_deterministic_algorithms(True)`` on CUDA too (1-D ``index_add_`` and
``index_select``, ``cummax``), which makes it the deterministic CUDA fallback.
As the kernels do, it computes landing positions in float (double for float64
flows) and the sums in float64, of the weights scaled by a power of two per
batch item (see csrc/flow_projection_math.h), so that no weight overflows them.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor


def _nearest_known(known: Tensor, dim: int) -> Tuple[Tensor, Tensor]:
    """Index along ``dim`` of the nearest known pixel before and after each pixel (-1 if none)."""
    n = known.shape[dim]
    shape = [1] * known.dim()
    shape[dim] = n
    pos = torch.arange(n, device=known.device).view(shape)
    before = torch.where(known, pos, -1).cummax(dim).values
    after = n - 1 - torch.where(known.flip(dim), pos, -1).cummax(dim).values.flip(dim)
    after = torch.where(after == n, -1, after)  # n - 1 - (-1): none after
    return before, after


def _fill_pass(out: Tensor, known: Tensor) -> Tuple[Tensor, Tensor]:
    """Each unknown pixel gets the mean of ``out`` at the nearest known pixel along
    each ray (left, right, up, down) that finds one; returns the result and what is known after."""
    B, _, H, W = out.shape
    ys = torch.arange(H, device=out.device).view(1, H, 1)
    xs = torch.arange(W, device=out.device).view(1, 1, W)
    base = (torch.arange(B, device=out.device) * H * W).view(B, 1, 1)
    flat = out.permute(0, 2, 3, 1).reshape(B * H * W, 2)
    total = torch.zeros_like(flat)
    count = torch.zeros(B * H * W, dtype=out.dtype, device=out.device)
    left, right = _nearest_known(known, 2)
    up, down = _nearest_known(known, 1)
    for idx, is_x in ((left, True), (right, True), (up, False), (down, False)):
        found = (idx >= 0).reshape(-1)
        src = (base + (ys * W + idx) if is_x else base + idx * W + xs).clamp_min(0).reshape(-1)
        total = total + flat.index_select(0, src) * found.unsqueeze(1)
        count = count + found
    reached = ~known.reshape(-1) & (count > 0)
    filled = torch.where(reached.unsqueeze(1), total / count.clamp_min(1).unsqueeze(1), flat)
    return filled.view(B, H, W, 2).permute(0, 3, 1, 2), known | reached.view(B, H, W)


def _fill_holes(out: Tensor, den: Tensor) -> Tensor:
    """Two passes (csrc/flow_projection_math.h): from the landed pixels, then from all filled so far."""
    out, known = _fill_pass(out, den[:, 0] > 0)
    return _fill_pass(out, known)[0]


def _weight_scales(w: Tensor, usable: Tensor) -> Tensor:
    """2^-e per batch item, e the exponent of its largest usable weight (1 if none)."""
    largest = torch.where(usable, w.detach(), 0).flatten(1).amax(1)
    return torch.ldexp(torch.ones_like(largest), -torch.frexp(largest).exponent.clamp_min(-1021).double())


def flow_projection(flow: Tensor, weight: Optional[Tensor] = None, fill_holes: bool = False) -> Tensor:
    """What :func:`vfi_ops.flow_projection` computes, in plain PyTorch.

    Vectorised; the splat is an ``index_add`` (deterministic, on CUDA too)."""
    B, _, H, W = flow.shape
    if flow.numel() == 0:
        return flow * 0
    device = flow.device
    pos = torch.promote_types(flow.dtype, torch.float32)  # the kernels' position type
    ys = torch.arange(H, device=device, dtype=pos).view(1, H, 1)
    xs = torch.arange(W, device=device, dtype=pos).view(1, 1, W)
    fx, fy = flow[:, 0].to(pos), flow[:, 1].to(pos)
    qx, qy = xs + fx, ys + fy
    w = torch.ones((B, H, W), dtype=torch.float64, device=device) if weight is None else weight[:, 0].double()
    usable = (w > 0) & torch.isfinite(w)
    valid = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1) & usable
    left = torch.where(valid, qx, 0).detach().floor().long()
    top = torch.where(valid, qy, 0).detach().floor().long()
    valid = valid & (left <= W - 1) & (top <= H - 1)  # what rounding put beyond the edge
    # Dropped sources contribute exactly 0 (and get a zero gradient).
    ws = torch.where(valid, w * _weight_scales(w, usable).view(B, 1, 1), 0)
    contrib = torch.stack((ws * torch.where(valid, fx, 0).double(), ws * torch.where(valid, fy, 0).double()), dim=-1)
    contrib, ws = contrib.reshape(-1, 2), ws.reshape(-1)
    right, bottom = (left + 1).clamp_max(W - 1), (top + 1).clamp_max(H - 1)
    base = (torch.arange(B, device=device) * H * W).view(B, 1, 1)
    num = torch.zeros((B * H * W, 2), dtype=torch.float64, device=device)
    den = torch.zeros(B * H * W, dtype=torch.float64, device=device)
    for row, col in ((top, left), (top, right), (bottom, left), (bottom, right)):
        idx = (base + row * W + col).reshape(-1)
        num = num.index_add(0, idx, contrib)
        den = den.index_add(0, idx, ws)
    safe = torch.where(den > 0, den, 1).unsqueeze(1)
    out = torch.where((den > 0).unsqueeze(1), -num / safe, 0)
    out = out.view(B, H, W, 2).permute(0, 3, 1, 2)
    if fill_holes:
        out = _fill_holes(out, den.view(B, 1, H, W))
    return out.to(flow.dtype)
