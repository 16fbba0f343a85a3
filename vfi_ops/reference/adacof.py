"""Pure-PyTorch adacof: vectorised, one gather of the four bilinear taps per window tap.

Differentiable through autograd (the cells are piecewise constant in the
offsets), so it also checks the hand-written gradients; it keeps a few
``[B, C, H, W]`` tensors per tap, never an ``[B, C*F*F, H, W]`` one.
"""

import math

import torch
from torch import Tensor


def _axis(offset: Tensor, base: Tensor, n: int, truncate: bool):
    """First row (column) of each tap's cell and the fraction, the point clamped into [-1, n-1]."""
    o = torch.maximum(torch.minimum(offset, (n - 1) - base), -1 - base)
    whole = o.detach().trunc() if truncate else o.detach().floor()
    return (base + whole).long(), o - whole


def adacof(
    input: Tensor,
    weight: Tensor,
    offset_y: Tensor,
    offset_x: Tensor,
    dilation: int = 1,
    truncate_offsets: bool = False,
) -> Tensor:
    """What :func:`vfi_ops.adacof` computes, in plain PyTorch."""
    B, C, Hin, Win = input.shape
    _, taps, H, W = weight.shape
    F = math.isqrt(taps)
    dtype, device = input.dtype, input.device
    ys = torch.arange(H, device=device, dtype=dtype).view(1, H, 1)
    xs = torch.arange(W, device=device, dtype=dtype).view(1, 1, W)
    planes = input.reshape(B, C, Hin * Win)
    out = None
    for t in range(taps):
        i, j = divmod(t, F)
        oy, ox = offset_y[:, t], offset_x[:, t]
        finite = ~(oy.isnan() | ox.isnan())
        Y, b = _axis(torch.where(finite, oy, 0), ys + i * dilation, Hin, truncate_offsets)
        X, a = _axis(torch.where(finite, ox, 0), xs + j * dilation, Win, truncate_offsets)
        rows = [Y.clamp(0, Hin - 1), (Y + 1).clamp(0, Hin - 1)]
        cols = [X.clamp(0, Win - 1), (X + 1).clamp(0, Win - 1)]

        def tap(r, c):
            index = (rows[r] * Win + cols[c]).reshape(B, 1, H * W).expand(B, C, H * W)
            return planes.gather(2, index).view(B, C, H, W)

        a, b = a.unsqueeze(1), b.unsqueeze(1)
        value = (1 - a) * (1 - b) * tap(0, 0) + a * (1 - b) * tap(0, 1) + (1 - a) * b * tap(1, 0) + a * b * tap(1, 1)
        term = weight[:, t : t + 1] * torch.where(finite.unsqueeze(1), value, 0)
        out = term if out is None else out + term
    return out
