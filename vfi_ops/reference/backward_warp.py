"""backward_warp in plain PyTorch: build a normalised grid and call grid_sample."""

import torch
import torch.nn.functional as F
from torch import Tensor


def grid_sample_warp(input: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    """The usual plain-PyTorch backward warp, for finite flows (what the benchmarks time).

    grid_sample mishandles non-finite grids on the CPU (NaN outputs next to
    them, and a crash in the "border" backward); :func:`backward_warp` guards against that.
    """
    B, _, H, W = flow.shape
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, 1, W)
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(1, H, 1)
    return _sample(input, xs + flow[:, 0], ys + flow[:, 1], padding_mode)


def backward_warp(input: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Same semantics as :func:`vfi_ops.backward_warp`, for inputs of at least 2x2 pixels.

    (With ``align_corners=True``, grid_sample maps every position of a 1-pixel
    wide or high input onto its single pixel, which is not bilinear sampling.)
    Non-finite and far positions are first moved to just beyond the input, which
    samples the same in both padding modes; NaN positions then sample nothing.
    """
    B, _, H, W = flow.shape
    h_in, w_in = input.shape[-2:]
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, 1, W)
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(1, H, 1)

    def tame(pos, size):
        return torch.nan_to_num(pos, nan=-2.0, posinf=size + 1.0, neginf=-2.0).clamp(-2.0, size + 1.0)

    out = _sample(input, tame(xs + flow[:, 0], w_in), tame(ys + flow[:, 1], h_in), padding_mode)
    nan = torch.isnan(flow).any(dim=1, keepdim=True)
    return out.masked_fill(nan, 0.0)


def _sample(input: Tensor, x: Tensor, y: Tensor, padding_mode: str) -> Tensor:
    """Bilinear samples of `input` at pixel positions (x, y), each [B, H, W]."""
    h_in, w_in = input.shape[-2:]
    gx = x * (2.0 / max(w_in - 1, 1)) - 1.0
    gy = y * (2.0 / max(h_in - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(input, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
