"""corr_lookup in plain PyTorch, RAFT's way: the all-pairs volume (one matmul,
memory (H W) (H2 W2)), then bilinear samples of it (small sizes only; what
the benchmarks time as the plain-PyTorch way). Differentiable through autograd."""

import torch
import torch.nn.functional as F
from torch import Tensor


def corr_lookup(fmap1: Tensor, fmap2: Tensor, coords: Tensor, radius: int) -> Tensor:
    """What :func:`vfi_ops.corr_lookup` computes, in plain PyTorch: exact at
    every position (taps gathered by index; non-finite coordinates sample nothing)."""
    B, C, H, W = fmap1.shape
    H2, W2 = fmap2.shape[-2:]
    n = 2 * radius + 1
    volume = torch.matmul(fmap1.flatten(2).transpose(1, 2), fmap2.flatten(2))  # [B, H W, H2 W2]
    offsets = torch.arange(-radius, radius + 1, dtype=coords.dtype, device=coords.device)
    # Sample k = (j + r) n + (i + r): x offset i fast, y offset j slow.
    xs = coords[:, 0].reshape(B, H * W, 1) + offsets.repeat(n).view(1, 1, n * n)
    ys = coords[:, 1].reshape(B, H * W, 1) + offsets.repeat_interleave(n).view(1, 1, n * n)
    ok = (xs >= -1) & (xs < W2) & (ys >= -1) & (ys < H2)  # NaN fails too
    xs, ys = torch.where(ok, xs, 0), torch.where(ok, ys, 0)
    X, Y = xs.detach().floor(), ys.detach().floor()
    a, b = xs - X, ys - Y  # the cell [X, X+1] also on integers
    X, Y = X.long(), Y.long()
    out = 0
    for dy, dx, weight in ((0, 0, (1 - a) * (1 - b)), (0, 1, a * (1 - b)), (1, 0, (1 - a) * b), (1, 1, a * b)):
        u, v = X + dx, Y + dy
        inside = ok & (u >= 0) & (u < W2) & (v >= 0) & (v < H2)
        index = torch.where(inside, v * W2 + u, 0)
        taps = volume.gather(2, index)
        out = out + torch.where(inside, weight * taps, 0)
    return out.transpose(1, 2).reshape(B, n * n, H, W)


def raft_corr_pyramid(fmap1: Tensor, fmap2: Tensor, coords: Tensor, radius: int, levels: int = 4) -> Tensor:
    """RAFT's ``CorrBlock`` lookup, written from its description: the all-pairs
    volume scaled by ``1/sqrt(C)``, average-pooled over fmap2's dimensions into
    ``levels`` levels, each sampled with ``grid_sample`` (``align_corners=True``)
    at ``coords / 2^l`` plus offsets, the (2r+1)^2 channels of a level with the
    x offset as the slow index, the levels concatenated.
    ``[B, levels (2r+1)^2, H, W]``. For finite coordinates and sizes of at least 2."""
    B, C, H, W = fmap1.shape
    n = 2 * radius + 1
    volume = torch.matmul(fmap1.flatten(2).transpose(1, 2), fmap2.flatten(2)) / C**0.5
    volume = volume.reshape(B * H * W, 1, *fmap2.shape[-2:])
    offsets = torch.arange(-radius, radius + 1, dtype=coords.dtype, device=coords.device)
    dx_slow = offsets.view(n, 1).expand(n, n)  # x offset along the first axis
    dy_fast = offsets.view(1, n).expand(n, n)
    centre = coords.permute(0, 2, 3, 1).reshape(B * H * W, 1, 1, 2)
    out = []
    for level in range(levels):
        h, w = volume.shape[-2:]
        x = centre[..., 0] / 2**level + dx_slow
        y = centre[..., 1] / 2**level + dy_fast
        grid = torch.stack((2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1), dim=-1)
        sampled = F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out.append(sampled.view(B, H, W, n * n).permute(0, 3, 1, 2))
        volume = F.avg_pool2d(volume, 2, stride=2)
    return torch.cat(out, 1)
