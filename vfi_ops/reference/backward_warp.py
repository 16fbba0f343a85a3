"""backward_warp in plain PyTorch: bilinear taps gathered with index arithmetic,
and the usual grid_sample formulation (what the benchmarks time)."""

import torch
import torch.nn.functional as F
from torch import Tensor


def grid_sample_warp(input: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    """The usual plain-PyTorch backward warp, for finite flows (what the benchmarks time).

    grid_sample mishandles non-finite grids on the CPU (NaN outputs next to
    them, and a crash in the "border" backward), cannot express 1-pixel wide or
    high inputs with ``align_corners=True``, and the normalisation of the grid
    rounds positions that lie exactly on integers, so its derivative there may
    be the left-hand one: :func:`backward_warp` is the exact reference.
    """
    B, _, H, W = flow.shape
    h_in, w_in = input.shape[-2:]
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, 1, W) + flow[:, 0]
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(1, H, 1) + flow[:, 1]
    grid = torch.stack((xs * (2.0 / max(w_in - 1, 1)) - 1.0, ys * (2.0 / max(h_in - 1, 1)) - 1.0), dim=-1)
    return F.grid_sample(input, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def _axis(p: Tensor, n: int, border: bool):
    """Along one axis of n pixels, for sampling positions p: whether any tap is in
    reach, the left tap's index and the (differentiable) fraction of the way to the right one."""
    if border:
        # Clamped into [0, n-1], with no gradient where clamping holds, the border included
        # (grid_sample's convention); NaN stays NaN.
        p = torch.where((p > 0) & (p < n - 1), p, p.detach().clamp(0, n - 1))
    ok = (p >= -1) & (p < n)  # NaN fails too
    p = torch.where(ok, p, 0)
    left = p.detach().floor()  # the cell [left, left + 1], also on integers
    return ok, left.long(), p - left


def backward_warp(input: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    """What :func:`vfi_ops.backward_warp` computes, in plain PyTorch, at every
    position (exact integers, the border, 1-pixel sizes, NaN and infinite flows)."""
    B, C, h_in, w_in = input.shape
    H, W = flow.shape[2:]
    pos = torch.promote_types(flow.dtype, torch.float32)  # the kernels' position type
    xs = torch.arange(W, dtype=pos, device=flow.device).view(1, 1, W) + flow[:, 0].to(pos)
    ys = torch.arange(H, dtype=pos, device=flow.device).view(1, H, 1) + flow[:, 1].to(pos)
    border = padding_mode == "border"
    ok_x, x0, ax = _axis(xs, w_in, border)
    ok_y, y0, ay = _axis(ys, h_in, border)
    planes = input.reshape(B, C, h_in * w_in)
    out = input.new_zeros((B, C, H, W), dtype=torch.promote_types(input.dtype, pos))
    for dy, wy in ((0, 1 - ay), (1, ay)):
        for dx, wx in ((0, 1 - ax), (1, ax)):
            x, y = x0 + dx, y0 + dy
            inside = ok_x & ok_y & (x >= 0) & (x < w_in) & (y >= 0) & (y < h_in)
            index = torch.where(inside, y * w_in + x, 0).reshape(B, 1, H * W).expand(B, C, H * W)
            # A tap outside reads pixel 0 and is then zeroed before any product, so
            # that an inf or NaN there reaches neither the output nor, through
            # where's backward, the flow gradient.
            taps = torch.where(inside.unsqueeze(1), planes.gather(2, index).view(B, C, H, W), 0)
            out = out + (wx * wy).unsqueeze(1) * taps
    return out.to(input.dtype)
