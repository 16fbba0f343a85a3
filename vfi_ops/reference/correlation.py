"""correlation in plain PyTorch: zero padding and one shifted product per displacement
(what the benchmarks time as the plain-PyTorch way). Differentiable through autograd."""

import torch
import torch.nn.functional as F
from torch import Tensor


def correlation(input1: Tensor, input2: Tensor, max_displacement: int, stride: int = 1, dilation: int = 1) -> Tensor:
    """What :func:`vfi_ops.correlation` computes, in plain PyTorch."""
    d, s, k = max_displacement, stride, dilation
    _, _, H, W = input1.shape
    reach = d * k
    padded = F.pad(input2, (reach, reach, reach, reach))
    sampled = input1[:, :, ::s, ::s]
    planes = []
    for j in range(-d, d + 1):
        top = reach + j * k
        for i in range(-d, d + 1):
            left = reach + i * k
            shifted = padded[:, :, top : top + H : s, left : left + W : s]
            planes.append((sampled * shifted).sum(1))
    return torch.stack(planes, 1)
