"""Pure-PyTorch flow_projection: vectorised, with index_add for the splat.

Differentiable through autograd (the splat positions are constant), so it also
checks the hand-written gradients. Every op it uses is deterministic under
``torch.use_deterministic_algorithms(True)`` on CUDA too (1-D ``index_add_`` and
``index_select``, ``cummax``), which makes it the deterministic CUDA fallback.
"""

from typing import Optional

import torch
from torch import Tensor


def _nearest_non_hole(non_hole: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Index along ``dim`` of the nearest non-hole before and after each pixel (-1 if none)."""
    n = non_hole.shape[dim]
    shape = [1] * non_hole.dim()
    shape[dim] = n
    pos = torch.arange(n, device=non_hole.device).view(shape)
    before = torch.where(non_hole, pos, -1).cummax(dim).values
    after = n - 1 - torch.where(non_hole.flip(dim), pos, -1).cummax(dim).values.flip(dim)
    after = torch.where(after == n, -1, after)  # n - 1 - (-1): none after
    return before, after


def _fill_holes(out: Tensor, den: Tensor) -> Tensor:
    """Each hole gets the mean of ``out`` at the nearest non-hole along each ray that finds one."""
    B, _, H, W = out.shape
    non_hole = den[:, 0] > 0  # [B, H, W]
    ys = torch.arange(H, device=out.device).view(1, H, 1)
    xs = torch.arange(W, device=out.device).view(1, 1, W)
    base = (torch.arange(B, device=out.device) * H * W).view(B, 1, 1)
    flat = out.permute(0, 2, 3, 1).reshape(B * H * W, 2)
    total = torch.zeros_like(flat)
    count = torch.zeros(B * H * W, dtype=out.dtype, device=out.device)
    left, right = _nearest_non_hole(non_hole, 2)
    up, down = _nearest_non_hole(non_hole, 1)
    for idx, is_x in ((left, True), (right, True), (up, False), (down, False)):
        found = (idx >= 0).reshape(-1)
        src = (base + (ys * W + idx) if is_x else base + idx * W + xs).clamp_min(0).reshape(-1)
        total = total + flat.index_select(0, src) * found.unsqueeze(1)
        count = count + found
    hole = ~non_hole.reshape(-1)
    filled = torch.where((hole & (count > 0)).unsqueeze(1), total / count.clamp_min(1).unsqueeze(1), flat)
    return filled.view(B, H, W, 2).permute(0, 3, 1, 2)


def flow_projection(flow: Tensor, weight: Optional[Tensor] = None, fill_holes: bool = False) -> Tensor:
    """What :func:`vfi_ops.flow_projection` computes, in plain PyTorch."""
    B, _, H, W = flow.shape
    dtype, device = flow.dtype, flow.device
    w = torch.ones((B, H, W), dtype=dtype, device=device) if weight is None else weight[:, 0]
    ys = torch.arange(H, device=device, dtype=dtype).view(1, H, 1)
    xs = torch.arange(W, device=device, dtype=dtype).view(1, 1, W)
    fx, fy = flow[:, 0], flow[:, 1]
    qx, qy = xs + fx, ys + fy
    valid = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1) & (w > 0) & torch.isfinite(w)
    # Dropped sources contribute exactly 0 (and get a zero gradient).
    wv = torch.where(valid, w, 0)
    contrib = torch.stack((wv * torch.where(valid, fx, 0), wv * torch.where(valid, fy, 0)), dim=-1).reshape(-1, 2)
    wv = wv.reshape(-1)
    left = torch.where(valid, qx, 0).detach().floor().long()
    top = torch.where(valid, qy, 0).detach().floor().long()
    right, bottom = (left + 1).clamp_max(W - 1), (top + 1).clamp_max(H - 1)
    base = (torch.arange(B, device=device) * H * W).view(B, 1, 1)
    num = flow.new_zeros((B * H * W, 2))
    den = flow.new_zeros(B * H * W)
    for row, col in ((top, left), (top, right), (bottom, left), (bottom, right)):
        idx = (base + row * W + col).reshape(-1)
        num = num.index_add(0, idx, contrib)
        den = den.index_add(0, idx, wv)
    safe = torch.where(den > 0, den, 1).unsqueeze(1)
    out = torch.where((den > 0).unsqueeze(1), -num / safe, 0)
    out = out.view(B, H, W, 2).permute(0, 3, 1, 2)
    if fill_holes:
        out = _fill_holes(out, den.view(B, 1, H, W))
    return out
