"""backward_warp: bilinear backward warping of an image or feature map by a flow field.

The op is ``torch.ops.vfi_ops.backward_warp`` (CPU and CUDA kernels in csrc/);
this module gives it a Python entry point, a fake kernel for torch.compile and
its autograd formula (the hand-written ``vfi_ops::backward_warp_backward`` op).
"""

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._layout import empty_in_layout
from ._library import for_each_library, register_backward

PADDING_MODES = ("zeros", "border")


def backward_warp(input: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    r"""Sample ``input`` at every output pixel displaced by ``flow`` (bilinear).

    ``out[b, c, y, x] = bilinear(input[b, c], x + flow[b, 0, y, x], y + flow[b, 1, y, x])``
    with pixel centres at integer coordinates (``grid_sample``'s ``align_corners=True``).

    Args:
        input: ``[B, C, Hin, Win]`` float tensor.
        flow: ``[B, 2, H, W]`` displacement in pixels of ``input``; channel 0 is x
            (width), channel 1 is y (height). ``H, W`` may differ from ``Hin, Win``.
        padding_mode: ``"zeros"`` (taps outside ``input`` contribute 0) or
            ``"border"`` (the sampling position is clamped into ``input`` first;
            no flow gradient where it is clamped).

    Returns:
        ``[B, C, H, W]`` tensor of ``input``'s dtype, channels-last for a
        channels-last input (:func:`vfi_ops.output_memory_format`; the input
        gradient too), contiguous otherwise.

    NaN flows sample nothing (0); infinite or huge flows are out of range
    ("zeros") or clamped ("border"). Taps outside ``input`` contribute exactly 0,
    whatever ``input`` holds (an inf or NaN pixel reaches only the samples that
    use it). Gradients flow to ``input`` and ``flow``.

    Exact positions (grid_sample's conventions): a position on an integer takes
    that pixel's value, and its flow gradient is the derivative of the cell to
    the right (so a zero flow gives ``input[x+1] - input[x]``); in "zeros" mode a
    tap outside counts as 0 (at ``x = W-1`` the gradient is ``-input[W-1]``, at
    ``x = -1`` it is ``input[0]``); in "border" mode the flow gradient is 0 wherever
    the position is clamped, the border itself (``x <= 0``, ``x >= W-1``) included.
    Positions are computed in float (double for float64): beyond 2^24 px a
    float32 position is rounded to a multiple of 2 (4 beyond 2^25, ...), which
    moves the sample; no rounding ever reads outside ``input``.
    On CUDA the gradient to ``input`` is accumulated with atomic adds, so under
    ``torch.use_deterministic_algorithms(True)`` it raises PyTorch's
    nondeterministic-operation error (as ``grid_sample`` does).
    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (float accumulation).
    CUDA results differ from the CPU kernels' in the last bits (nvcc contracts
    ``a*b+c`` into fused multiply-adds; atomic sums add in varying order).
    """
    check_tensors("backward_warp", input=input, flow=flow)
    return torch.ops.vfi_ops.backward_warp.default(input, flow, padding_mode)


def _check_fake_args(input: Tensor, flow: Tensor, padding_mode: str) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        input.dim() == 4, lambda: f"backward_warp(): expected input of shape [B, C, Hin, Win], got {tuple(input.shape)}"
    )
    torch._check_value(
        flow.dim() == 4 and flow.shape[1] == 2 and flow.shape[0] == input.shape[0],
        lambda: (
            f"backward_warp(): expected flow of shape [B, 2, H, W] with B = {input.shape[0]}, got {tuple(flow.shape)}"
        ),
    )
    check_like("backward_warp", "flow", flow, "input", input)
    torch._check_value(
        padding_mode in PADDING_MODES,
        lambda: f"backward_warp(): padding_mode must be 'zeros' or 'border', but got {padding_mode!r}",
    )


def _backward_warp_fake(input, flow, padding_mode="zeros"):
    _check_fake_args(input, flow, padding_mode)
    return empty_in_layout(input, (input.shape[0], input.shape[1], flow.shape[2], flow.shape[3]))


def _backward_warp_backward_fake(grad_output, input, flow, padding_mode, output_mask):
    check_output_mask("backward_warp_backward", output_mask, 2)
    _check_fake_args(input, flow, padding_mode)
    grad_input = empty_in_layout(input, input.shape) if output_mask[0] else input.new_empty((0,))
    grad_flow = flow.new_empty(flow.shape) if output_mask[1] else flow.new_empty((0,))
    return grad_input, grad_flow


def _setup_context(ctx, inputs, output):
    input, flow, padding_mode = inputs
    ctx.save_for_backward(input, flow)
    ctx.padding_mode = padding_mode


def _backward(ctx, grad_output):
    input, flow = ctx.saved_tensors
    need_input, need_flow = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_input, grad_flow = ctx.ops.backward_warp_backward.default(
        grad_output, input, flow, ctx.padding_mode, [need_input, need_flow]
    )
    return (grad_input if need_input else None, grad_flow if need_flow else None, None)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::backward_warp", _backward_warp_fake)
    torch.library.register_fake(f"{ns}::backward_warp_backward", _backward_warp_backward_fake)
    register_backward(ns, "backward_warp", _backward, _setup_context)
