"""adacof: AdaCoF's adaptive collaboration of flows, on CPU and CUDA with hand-written gradients.

The op is ``torch.ops.vfi_ops.adacof`` (CPU and CUDA kernels in csrc/); this
module gives it a Python entry point, a fake kernel for torch.compile and its
autograd formula (the hand-written ``vfi_ops::adacof_backward`` op).
"""

import math

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward


def adacof(
    input: Tensor,
    weight: Tensor,
    offset_y: Tensor,
    offset_x: Tensor,
    dilation: int = 1,
    truncate_offsets: bool = False,
) -> Tensor:
    r"""Synthesise each output pixel from F*F weighted, individually offset bilinear samples (AdaCoF).

    .. math::

        \mathrm{out}[b, c, y, x] = \sum_{i<F} \sum_{j<F} \mathrm{weight}[b, t, y, x]\;
            \mathrm{bilinear}\big(\mathrm{input}[b, c],\;
            y + i d + \mathrm{offset\_y}[b, t, y, x],\; x + j d + \mathrm{offset\_x}[b, t, y, x]\big),
        \quad t = iF + j

    Output pixel ``(y, x)`` owns an F x F grid of sample points with spacing
    ``d = dilation`` whose top-left point is input pixel ``(y, x)`` (the input is
    padded by the caller by ``(F-1)*d`` in all; AdaCoF pads each frame by
    ``(F-1)*d // 2`` on every side with ``ReplicationPad2d``), each moved by its
    own offset and weighed by its own weight. AdaCoF synthesises a frame as
    ``occlusion * adacof(pad(I0), w0, a0, b0) + (1 - occlusion) * adacof(pad(I1), w1, a1, b1)``
    with softmax-normalised weights.

    ::

        input (padded)                      tap t = iF + j of pixel (y, x):
        +--------------------------+        sample point (y + i*d + offset_y[t], x + j*d + offset_x[t])
        | o . o . o      o: grid    |        value        bilinear, taps clamped into the input
        | .   .  *  <-- moved by   |        out[y, x]    = sum_t weight[t] * value_t
        | o . o . o     the offset  |
        +--------------------------+

    Bilinear sampling (pixel centres at integers): with the sample point at
    ``(py, px)``, ``Y = floor(py)``, ``X = floor(px)``, ``b = py - Y``,
    ``a = px - X``, the taps ``(Y, X), (Y, X+1), (Y+1, X), (Y+1, X+1)`` weigh
    ``(1-a)(1-b), a(1-b), (1-a)b, ab``; tap rows and columns are clamped into
    the input (AdaCoF's replicate border), and the point is first clamped into
    ``[-1, H_in - 1] x [-1, W_in - 1]``, where nothing changes but the
    arithmetic's range (beyond it both taps of a row or column are the border's).

    ``truncate_offsets=True`` reproduces AdaCoF's and CDFI's published kernels,
    for checkpoints trained with them: they take ``Y = y + i*d + trunc(offset_y)``
    (truncation toward zero, ``(int) offset`` in C) and ``b = offset_y - trunc(offset_y)``,
    so a negative fractional offset has ``b`` in ``(-1, 0)`` and extrapolates
    from rows ``Y`` and ``Y+1`` (weights ``1-b > 1`` and ``b < 0``) instead of
    interpolating between ``Y-1`` and ``Y``; likewise along x. The two agree for
    non-negative and integer offsets. Never the default.

    Args:
        input: ``[B, C, H + (F-1)*d, W + (F-1)*d]`` float tensor (frames; CDFI: 4 to 20-channel features).
        weight: ``[B, F*F, H, W]`` per-pixel weights (used as given), F >= 1
            (AdaCoF: F = 5, d = 1; F = 11, d = 2 in its larger model).
        offset_y: ``[B, F*F, H, W]`` vertical offsets in pixels (down is positive).
        offset_x: ``[B, F*F, H, W]`` horizontal offsets in pixels (right is positive).
        dilation: the spacing d of the sample grid, a positive int.
        truncate_offsets: use AdaCoF's truncation toward zero instead of floor (see above).

    Returns:
        ``[B, C, H, W]`` tensor of ``input``'s dtype (contiguous, whatever the
        layout of the arguments).

    Gradients flow to all four tensors, over every channel (the published
    backward sums over 3 channels only and gives the input none):
    ``d/dweight_t = sum_c g * value_t``,
    ``d/doffset_y_t = weight_t * sum_c g * ((1-a)(I[Y+1, X] - I[Y, X]) + a(I[Y+1, X+1] - I[Y, X+1]))``
    and likewise for x, and the input gradient ``g * weight_t * tap weight``
    scattered to the four taps. Exact positions: on an integer coordinate the
    cell is the one to the right / below (``a = 0``), so the offset gradient is
    the one-sided derivative from the right, as :func:`vfi_ops.backward_warp`'s;
    where the point is clamped (beyond the border) it is 0. A NaN offset makes
    its sample 0, with no gradient (never an address); infinite offsets land on
    the border. Positions are computed in the input's precision (float for
    float16/bfloat16).

    Determinism: on CUDA the input gradient is accumulated with atomic adds, so
    under ``torch.use_deterministic_algorithms(True)`` it raises PyTorch's
    nondeterministic-operation error; the weight and offset gradients are
    deterministic everywhere, and so is everything on CPU. Double backward is
    not supported.

    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (float
    accumulation). Under ``torch.autocast`` it runs in float32. CUDA results
    differ from the CPU kernels' in the last bits (fused multiply-adds, atomic
    sums in varying order).

    Raises:
        TypeError: a tensor argument is not a tensor, not floating point, or of
            another dtype than ``input`` (or float16/bfloat16 on CPU).
        ValueError: wrong numbers of dimensions, a weight whose channel count is
            not a square F*F, offsets of another shape than the weight, another
            batch size, an input whose size is not ``H + (F-1)*d, W + (F-1)*d``,
            a dilation below 1, or arguments on different devices.

    Source: H. Lee, T. Kim, T. Chung, D. Pak, Y. Ban, S. Lee, "AdaCoF: Adaptive
    Collaboration of Flows for Video Frame Interpolation", CVPR 2020 (its CuPy
    kernel: CUDA and float32 only); T. Ding, L. Liang, Z. Zhu, I. Zharkov, "CDFI:
    Compression-Driven Network Design for Frame Interpolation", CVPR 2021.
    """
    check_tensors("adacof", input=input, weight=weight, offset_y=offset_y, offset_x=offset_x)
    if isinstance(dilation, bool) or not isinstance(dilation, int):
        raise TypeError(f"adacof(): expected dilation to be an int, but got {dilation!r} ({type(dilation).__name__})")
    if not isinstance(truncate_offsets, bool):
        raise TypeError(
            f"adacof(): expected truncate_offsets to be a bool, but got {truncate_offsets!r} "
            f"({type(truncate_offsets).__name__})"
        )
    return torch.ops.vfi_ops.adacof.default(input, weight, offset_y, offset_x, dilation, truncate_offsets)


def _check_fake_args(input: Tensor, weight: Tensor, offset_y: Tensor, offset_x: Tensor, dilation: int) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        input.dim() == 4 and weight.dim() == 4,
        lambda: f"adacof(): expected 4-D input and weight, got {tuple(input.shape)}, {tuple(weight.shape)}",
    )
    B, taps, H, W = weight.shape
    F = math.isqrt(taps)
    torch._check_value(
        taps >= 1 and F * F == taps, lambda: f"adacof(): expected weight to have F*F channels, got {taps}"
    )
    torch._check_value(dilation >= 1, lambda: f"adacof(): expected a positive dilation, got {dilation}")
    for name, t in (("offset_y", offset_y), ("offset_x", offset_x)):
        torch._check_value(
            tuple(t.shape) == tuple(weight.shape),
            lambda: f"adacof(): expected {name} of shape {list(weight.shape)}, got {tuple(t.shape)}",
        )
        check_like("adacof", name, t, "input", input)
    pad = (F - 1) * dilation
    torch._check_value(
        input.shape[0] == B and input.shape[2] == H + pad and input.shape[3] == W + pad,
        lambda: f"adacof(): expected input of shape [{B}, C, {H + pad}, {W + pad}], got {tuple(input.shape)}",
    )
    check_like("adacof", "weight", weight, "input", input)


def _adacof_fake(input, weight, offset_y, offset_x, dilation=1, truncate_offsets=False):
    _check_fake_args(input, weight, offset_y, offset_x, dilation)
    B, _, H, W = weight.shape
    return input.new_empty((B, input.shape[1], H, W))


def _adacof_backward_fake(grad_output, input, weight, offset_y, offset_x, dilation, truncate_offsets, output_mask):
    check_output_mask("adacof_backward", output_mask, 4)
    _check_fake_args(input, weight, offset_y, offset_x, dilation)
    return tuple(
        t.new_empty(t.shape) if needed else t.new_empty((0,))
        for t, needed in zip((input, weight, offset_y, offset_x), output_mask)
    )


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:4])
    ctx.dilation, ctx.truncate_offsets = inputs[4], inputs[5]


def _backward(ctx, grad_output):
    input, weight, offset_y, offset_x = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:4])
    grads = ctx.ops.adacof_backward.default(
        grad_output, input, weight, offset_y, offset_x, ctx.dilation, ctx.truncate_offsets, needs
    )
    return tuple(g if needed else None for g, needed in zip(grads, needs)) + (None, None)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::adacof", _adacof_fake)
    torch.library.register_fake(f"{ns}::adacof_backward", _adacof_backward_fake)
    register_backward(ns, "adacof", _backward, _setup_context)
