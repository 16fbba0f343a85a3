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
        gradient too), contiguous otherwise. Both the CPU and the CUDA kernels
        read and write channels-last tensors in place (no conversion); the
        incoming gradient is converted to the input's layout if it has another.

    Raises:
        ValueError: a shape that does not match (``input`` and ``flow`` 4-D,
            ``flow`` with 2 channels and ``input``'s batch size), an unknown
            ``padding_mode``, tensors on different devices. TypeError: an
            argument that is not a tensor, a non-float ``input``, a ``flow`` of
            another dtype than ``input``.

    NaN flows sample nothing (output 0, gradient 0); infinite or huge flows are
    out of range ("zeros") or clamped ("border"). No flow value can make the
    kernel read outside ``input`` (``grid_sample``'s CPU backward, by contrast,
    crashes on NaN positions in "border" mode). Taps outside ``input`` contribute
    exactly 0, whatever ``input`` holds: an inf or NaN pixel reaches only the
    samples (and flow gradients) that use it, as IEEE arithmetic has it (in
    "border" mode a clamped sample's flow gradient is then NaN, 0 * inf, as with
    ``grid_sample``). A non-finite incoming gradient can make the input gradient
    of pixel 0 NaN (0 * inf from taps outside). Gradients flow to ``input`` (a
    scatter) and ``flow``.

    Exact positions (grid_sample's conventions): a position on an integer takes
    that pixel's value, and its flow gradient is the derivative of the cell to
    the right (so a zero flow gives ``input[x+1] - input[x]``); in "zeros" mode a
    tap outside counts as 0 (at ``x = W-1`` the gradient is ``-input[W-1]``, at
    ``x = -1`` it is ``input[0]``); in "border" mode the flow gradient is 0 wherever
    the position is clamped, the border itself (``x <= 0``, ``x >= W-1``) included.
    Positions are computed in float (double for float64): beyond 2^24 px a
    float32 position is rounded to a multiple of 2 (4 beyond 2^25, ...), which
    moves the sample; no rounding ever reads outside ``input``. (``grid_sample``
    itself may round a position on an integer when it normalises the grid, and
    then take the left-hand derivative there; :func:`vfi_ops.reference.backward_warp`
    is exact.)

    Determinism: the forward and the flow gradient are bitwise the same for any
    number of CPU threads. The CPU input gradient is deterministic for a given
    thread count; when it is computed with the flow gradient for fewer
    (batch x channel) planes than threads, it is summed from per-band copies, so
    another thread count may change its last bits. Every CPU path gives the same
    bits whatever the instruction set or ``ATEN_CPU_CAPABILITY`` (the CPU kernels
    are built without fused multiply-adds; the float32 forward uses AVX2 loops
    where the CPU has them). On CUDA the gradient to ``input`` is accumulated
    with atomic adds, so under ``torch.use_deterministic_algorithms(True)`` it
    raises PyTorch's nondeterministic-operation error (as ``grid_sample`` does);
    the flow gradient alone is deterministic. The CUDA input gradient's float
    atomic adds flush subnormals to zero, as a GPU's single-precision atomic add
    does: a contribution below ``2^-126`` in magnitude adds nothing there
    (float64 keeps subnormals).

    Layouts: any (non-contiguous, channels-last) and batch size 0. A
    channels-last-contiguous ``input`` gives a channels-last output and input
    gradient, which the CPU kernels sample in place; anything else (a sliced
    channels-last tensor too) gives contiguous results.
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
