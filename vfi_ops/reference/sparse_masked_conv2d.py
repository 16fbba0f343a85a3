"""Pure-PyTorch sparse_masked_conv2d: the dense convolution, then a select.

It computes every position, so it costs a dense convolution at any mask; the
benchmarks time plain ``F.conv2d`` as the baseline.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def sparse_masked_conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    mask: Tensor,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    fill: Optional[Tensor] = None,
) -> Tensor:
    """What :func:`vfi_ops.sparse_masked_conv2d` computes, in plain PyTorch: the dense
    expression ``where(mask != 0, F.conv2d(...), fill)``.

    With no input channels the convolution is its bias (or zeros) at every output
    position, which F.conv2d (on CPU) does not give: it returns no channels.
    """
    if input.shape[1] == 0:
        out = _bias_only(input, weight, bias, stride, padding, dilation)
    else:
        out = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if fill is None:
        fill = torch.zeros_like(out)
    return torch.where(mask != 0, out, fill)


def _bias_only(input: Tensor, weight: Tensor, bias: Optional[Tensor], stride, padding, dilation) -> Tensor:
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    size = [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(input.shape[2:], weight.shape[2:], pair(stride), pair(padding), pair(dilation))
    ]
    out = input.new_zeros(input.shape[0], weight.shape[0], *size)
    return out if bias is None else out + bias.view(1, -1, 1, 1)
