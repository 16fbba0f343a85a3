"""Pure-PyTorch sparse_masked_conv2d: the dense convolution, then a select.

It computes every position, so it costs a dense convolution at any mask; the
benchmarks time plain ``F.conv2d`` as the baseline.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def sparse_masked_conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor], mask: Tensor, stride=1, padding=0,
                         dilation=1, groups=1, fill: Optional[Tensor] = None) -> Tensor:
    """What :func:`vfi_ops.sparse_masked_conv2d` computes, in plain PyTorch."""
    out = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if fill is None:
        fill = torch.zeros_like(out)
    return torch.where(mask != 0, out, fill)
