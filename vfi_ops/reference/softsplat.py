"""Pure-PyTorch softsplat: vectorised, with index_add for the splat.

Differentiable through autograd (the taps are piecewise constant in the flow,
their weights linear in it), so it also checks the hand-written gradients.
Every op it uses is deterministic under ``torch.use_deterministic_algorithms(True)``
on CUDA too (1-D ``index_add`` and its ``index_select`` backward, ``amax``),
which makes it the deterministic CUDA fallback.
"""

from typing import Optional

import torch
from torch import Tensor


def _splat_factor(metric: Optional[Tensor], lands: Tensor, mode: str, dtype: torch.dtype) -> Tensor:
    """z per source [B, H, W]: 1, Z / M or exp(Z - M), M being each item's largest
    usable metric among the sources that land; 0 for dropped sources."""
    if mode in ("sum", "avg"):
        return lands.to(dtype)
    Z = metric[:, 0]
    usable = lands & torch.isfinite(Z)
    if mode == "linear":
        usable = usable & (Z > 0)
    key = torch.where(usable, Z, -torch.inf)
    # M is a constant: the ratio does not depend on it, so neither does its gradient.
    M = key.detach().amax(dim=(1, 2), keepdim=True)
    M = torch.where(torch.isfinite(M), M, 1.0)  # no source usable: any value
    safe = torch.where(usable, Z, M)  # no NaN or inf reaches exp or the gradient
    z = safe / M if mode == "linear" else torch.exp(safe - M)
    return torch.where(usable, z, 0.0)


def softsplat(input: Tensor, flow: Tensor, metric: Optional[Tensor] = None, mode: str = "soft") -> Tensor:
    """What :func:`vfi_ops.softsplat` computes, in plain PyTorch.

    Vectorised; the splat is an ``index_add`` (deterministic, on CUDA too)."""
    if mode not in ("sum", "avg", "linear", "soft"):
        raise ValueError(f"softsplat(): expected mode to be one of 'sum', 'avg', 'linear', 'soft', but got {mode!r}")
    if (metric is None) != (mode in ("sum", "avg")):
        raise ValueError(f"softsplat(): mode {mode!r} {'needs' if metric is None else 'takes no'} metric")
    B, C, H, W = input.shape
    dtype, device = input.dtype, input.device
    xs = torch.arange(W, device=device, dtype=dtype).view(1, 1, W)
    ys = torch.arange(H, device=device, dtype=dtype).view(1, H, 1)
    qx, qy = xs + flow[:, 0], ys + flow[:, 1]  # [B, H, W]
    # Some tap is inside (possibly with weight 0: at -1 the cell is [-1, 0]); False for NaN.
    lands = (qx >= -1) & (qx < W) & (qy >= -1) & (qy < H)
    qx, qy = torch.where(lands, qx, 0.0), torch.where(lands, qy, 0.0)
    x0, y0 = qx.detach().floor(), qy.detach().floor()
    ax, ay = qx - x0, qy - y0
    z = _splat_factor(metric, lands, mode, dtype)
    splats = z > 0
    values = input.permute(0, 2, 3, 1).reshape(B * H * W, C)
    base = (torch.arange(B, device=device) * H * W).view(B, 1, 1)
    num = input.new_zeros((B * H * W, C))
    den = input.new_zeros(B * H * W)
    x0, y0 = x0.long(), y0.long()
    for dy, wy in ((0, 1 - ay), (1, ay)):
        for dx, wx in ((0, 1 - ax), (1, ax)):
            x, y = x0 + dx, y0 + dy
            inside = splats & (x >= 0) & (x < W) & (y >= 0) & (y < H)
            w = torch.where(inside, wx * wy * z, 0.0).reshape(-1)
            idx = torch.where(inside, base + y * W + x, 0).reshape(-1)
            keep = inside.reshape(-1, 1)
            num = num.index_add(0, idx, torch.where(keep, w.unsqueeze(1) * values, 0.0))
            den = den.index_add(0, idx, w)
    if mode != "sum":
        num = torch.where(den.unsqueeze(1) > 0, num / torch.where(den > 0, den, 1.0).unsqueeze(1), 0.0)
    return num.view(B, H, W, C).permute(0, 3, 1, 2)
