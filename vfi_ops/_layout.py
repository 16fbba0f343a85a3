"""The memory layout the layout-preserving ops compute in and return."""

import torch
from torch import Tensor


def output_memory_format(input: Tensor) -> torch.memory_format:
    """The layout :func:`vfi_ops.sparse_masked_conv2d` and :func:`vfi_ops.backward_warp`
    compute in and return (and give the input gradient) for this input, e.g. for
    an ``out=`` buffer: ``torch.channels_last`` for a channels-last input (unless
    also contiguous, as with one channel or 1 x 1 planes), ``torch.contiguous_format``
    otherwise. Also ``vfi_ops.output_memory_format``."""
    channels_last = not input.is_contiguous() and input.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def empty_in_layout(input: Tensor, shape) -> Tensor:
    """An empty tensor of ``shape`` with ``input``'s dtype and device in its output layout."""
    return torch.empty(shape, dtype=input.dtype, device=input.device, memory_format=output_memory_format(input))
