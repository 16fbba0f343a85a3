"""correlation: the local cost volume of FlowNetC and PWC-Net.

The op is ``torch.ops.vfi_ops.correlation`` (CPU and CUDA kernels in csrc/);
this module gives it a Python entry point, a fake kernel for torch.compile and
its autograd formula (the hand-written ``vfi_ops::correlation_backward`` op).
"""

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward


def correlation(input1: Tensor, input2: Tensor, max_displacement: int, stride: int = 1, dilation: int = 1) -> Tensor:
    r"""The local cost volume: the features of ``input1`` against those of ``input2``
    displaced by up to ``max_displacement`` pixels (FlowNetC, PWC-Net).

    With ``d = max_displacement``, ``s = stride``, ``k = dilation`` and ``n = 2d+1``::

        out[b, (j+d)*n + (i+d), yo, xo] =
            sum_c input1[b, c, yo*s, xo*s] * input2[b, c, yo*s + j*k, xo*s + i*k]

    for ``i`` (x offset) and ``j`` (y offset) in ``[-d, d]``. The channels are in
    row-major order over ``(j, i)``, as in PWC-Net's and FlowNet2's correlation
    layers: channel ``d*n + d`` is the zero displacement, channel ``d*n + d + 1``
    one pixel to the right, channel ``(d+1)*n + d`` one pixel down.

    The sum over the channels is plain: PWC-Net divides it by ``C``, RAFT by
    ``sqrt(C)``; scale one input (or the output) to match. PWC-Net's layer is
    ``correlation(f1, f2, 4) / C`` (leaky ReLU after it in the network).

    Positions (pixel centres at integers, as everywhere in vfi_ops):

    - ``input1`` is read at the pixels ``(yo*s, xo*s)`` only, ``0 <= yo < ceil(H/s)``,
      ``0 <= xo < ceil(W/s)``; its other pixels get a zero gradient;
    - a displaced position outside ``input2`` (row ``< 0`` or ``>= H``, column
      ``< 0`` or ``>= W``) contributes exactly 0, whatever ``input1`` holds there;
      a displacement landing exactly on row ``H-1`` or column ``W-1`` is inside;
      ``max_displacement`` may exceed the image (the channels that reach outside
      everywhere are 0); 1 x 1 feature maps work.
    - No interpolation: every displacement is a whole number of pixels.

    Args:
        input1: ``[B, C, H, W]`` float tensor (the first frame's features).
        input2: ``[B, C, H, W]``, the same shape, device and dtype (the second
            frame's features, often warped by the current flow estimate).
        max_displacement: ``d >= 0`` (PWC-Net: 4).
        stride: ``s >= 1``, the step between the sampled pixels of ``input1``.
        dilation: ``k >= 1``, the step between displacements, in pixels.

    Returns:
        ``[B, (2d+1)^2, ceil(H/s), ceil(W/s)]`` contiguous tensor of the inputs' dtype.

    Raises:
        ValueError: inputs not 4-D or of different shapes (channel or size
            mismatch), on different devices; ``max_displacement < 0``,
            ``stride < 1``, ``dilation < 1``, or ``max_displacement * dilation``
            (or ``stride``) above 16384.
        TypeError: a non-float ``input1``, ``input2`` of another dtype, or a
            non-tensor argument; float16/bfloat16 on the CPU.

    Gradients flow to both inputs (hand-written; the output is bilinear in them,
    so they are exact): ``grad_input1[b, c, yo*s, xo*s] = sum_ch g[b, ch, yo, xo]
    * input2[b, c, displaced]`` and ``grad_input2[b, c, y, x]`` the sum over the
    output elements that read ``(y, x)`` of ``g * input1``. Both are gathers,
    on CPU and CUDA: deterministic (also under
    ``torch.use_deterministic_algorithms(True)``), and on the CPU bitwise the same
    for any number of threads. Double backward is not supported.

    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA, summed in
    float. Under ``torch.autocast`` it runs in float32 on CPU and CUDA (features
    often arrive in half precision; long sums of products need the precision).
    CUDA results differ from the CPU kernels' in the last bits (nvcc fuses
    multiply-adds). Any memory layout is accepted (copied to contiguous).

    Example: PWC-Net's cost volume at one pyramid level, against the second
    frame's features warped by the upsampled flow::

        >>> import torch, vfi_ops
        >>> f1, f2 = torch.randn(1, 32, 24, 32), torch.randn(1, 32, 24, 32)
        >>> warped = vfi_ops.backward_warp(f2, torch.zeros(1, 2, 24, 32))
        >>> cost = vfi_ops.correlation(f1, warped, 4) / f1.shape[1]
        >>> cost.shape
        torch.Size([1, 81, 24, 32])
        >>> torch.allclose(cost[:, 40], (f1 * f2).mean(1), atol=1e-6)  # channel 40: no displacement
        True
    """
    check_tensors("correlation", input1=input1, input2=input2)
    return torch.ops.vfi_ops.correlation.default(input1, input2, max_displacement, stride, dilation)


def _check_fake_args(input1: Tensor, input2: Tensor, max_displacement: int, stride: int, dilation: int) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        input1.dim() == 4,
        lambda: f"correlation(): expected input1 of shape [B, C, H, W] (4-D), but got {tuple(input1.shape)}",
    )
    check_like("correlation", "input2", input2, "input1", input1)
    torch._check_value(
        tuple(input2.shape) == tuple(input1.shape),
        lambda: (
            f"correlation(): expected input2 of the shape of input1 ({list(input1.shape)}), "
            f"but got {list(input2.shape)}"
        ),
    )
    torch._check_value(
        max_displacement >= 0, lambda: f"correlation(): expected max_displacement >= 0, but got {max_displacement}"
    )
    torch._check_value(stride >= 1, lambda: f"correlation(): expected stride >= 1, but got {stride}")
    torch._check_value(dilation >= 1, lambda: f"correlation(): expected dilation >= 1, but got {dilation}")


def _output_shape(input1: Tensor, max_displacement: int, stride: int):
    B, _, H, W = input1.shape
    n = 2 * max_displacement + 1
    return (B, n * n, (H + stride - 1) // stride, (W + stride - 1) // stride)


def _correlation_fake(input1, input2, max_displacement, stride=1, dilation=1):
    _check_fake_args(input1, input2, max_displacement, stride, dilation)
    return input1.new_empty(_output_shape(input1, max_displacement, stride))


def _correlation_backward_fake(grad_output, input1, input2, max_displacement, stride, dilation, output_mask):
    check_output_mask("correlation_backward", output_mask, 2)
    _check_fake_args(input1, input2, max_displacement, stride, dilation)
    return tuple(
        t.new_empty(t.shape) if needed else t.new_empty((0,)) for t, needed in zip((input1, input2), output_mask)
    )


def _setup_context(ctx, inputs, output):
    input1, input2, max_displacement, *rest = inputs
    # The dispatcher drops trailing arguments equal to their defaults.
    rest = list(rest) + [1, 1][len(rest) :]
    ctx.save_for_backward(input1, input2)
    ctx.geometry = (max_displacement, rest[0], rest[1])


def _backward(ctx, grad_output):
    input1, input2 = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:2])
    grads = ctx.ops.correlation_backward.default(grad_output, input1, input2, *ctx.geometry, needs)
    return tuple(g if needed else None for g, needed in zip(grads, needs)) + (None,) * (len(ctx.needs_input_grad) - 2)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::correlation", _correlation_fake)
    torch.library.register_fake(f"{ns}::correlation_backward", _correlation_backward_fake)
    register_backward(ns, "correlation", _backward, _setup_context)
