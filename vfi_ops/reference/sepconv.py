"""Pure-PyTorch sepconv: ``F.unfold`` and one product per window (small sizes only).

The unfolded input holds ``B * C * K * K * H * W`` values (16 GB in float32 for
K = 51 at 540 x 960 RGB), which is what the compiled op avoids; differentiable
through autograd, so it also checks the hand-written gradients.
"""

import torch.nn.functional as F
from torch import Tensor


def sepconv(input: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    """What :func:`vfi_ops.sepconv` computes, in plain PyTorch."""
    B, C = input.shape[:2]
    _, K, H, W = vertical.shape
    patches = F.unfold(input, K).view(B, C, K, K, H, W)  # [b, c, i, j, y, x] = input[b, c, y+i, x+j]
    rows = (patches * horizontal.view(B, 1, 1, K, H, W)).sum(3)  # the horizontal pass of each row i
    return (rows * vertical.view(B, 1, K, H, W)).sum(2)


def sepconv_rowwise(input: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    """The same, one kernel row at a time: row i's windows as a strided view
    (``Tensor.unfold``, no copy) summed against the horizontal kernels, then
    weighed by ``vertical[:, i]``. Memory O(B*C*H*W*K) instead of O(B*C*H*W*K^2)."""
    _, K, H, W = vertical.shape
    h = horizontal.permute(0, 2, 3, 1).unsqueeze(1)  # [B, 1, H, W, K]
    out = None
    for i in range(K):
        windows = input[:, :, i : i + H].unfold(3, K, 1)  # [B, C, H, W, K]: input[b, c, y+i, x+j]
        term = vertical[:, i : i + 1] * (windows * h).sum(-1)
        out = term if out is None else out + term
    return out
