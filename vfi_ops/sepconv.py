"""sepconv: SepConv's separable local convolution, on CPU and CUDA with hand-written gradients.

The op is ``torch.ops.vfi_ops.sepconv`` (CPU and CUDA kernels in csrc/); this
module gives it a Python entry point, a fake kernel for torch.compile and its
autograd formula (the hand-written ``vfi_ops::sepconv_backward`` op).
"""

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward


def sepconv(input: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    r"""Convolve every output pixel's neighbourhood with its own pair of 1-D kernels (SepConv).

    .. math::

        \mathrm{out}[b, c, y, x] = \sum_{i<K} \sum_{j<K}
            \mathrm{input}[b, c, y+i, x+j]\, \mathrm{vertical}[b, i, y, x]\, \mathrm{horizontal}[b, j, y, x]

    Output pixel ``(y, x)`` reads the K x K window whose top-left corner is input
    pixel ``(y, x)``: the input is padded by the caller (SepConv pads each frame by
    ``K // 2`` on every side, e.g. with ``F.pad(frame, [K // 2] * 4, mode="replicate")``
    for odd K), so the window is centred on ``(y + K//2, x + K//2)``. The
    per-pixel kernels are used as given (SepConv's network does not normalise
    them). SepConv synthesises a frame as ``sepconv(pad(I0), v0, h0) + sepconv(pad(I1), v1, h1)``.

    ::

        input (padded)          vertical[:, :, y, x]   horizontal[:, :, y, x]
        +----------------+      (K values)             (K values)
        | (y,x)          |      v0                     h0 h1 ... h(K-1)
        |  +-----+       |      v1
        |  | KxK |  -->  |      ...        out[y, x] = sum_i v_i sum_j h_j input[y+i, x+j]
        |  +-----+       |      v(K-1)
        +----------------+

    Args:
        input: ``[B, C, H+K-1, W+K-1]`` float tensor (frames or features, padded by ``K-1`` in all).
        vertical: ``[B, K, H, W]``, the vertical 1-D kernel of each output pixel
            (K >= 1; SepConv: 51; the 2021 revisit and EDSC's separable part use others).
        horizontal: ``[B, K, H, W]``, the horizontal 1-D kernel of each output pixel.

    Returns:
        ``[B, C, H, W]`` tensor of ``input``'s dtype (contiguous, whatever the
        layout of the arguments).

    Each row's horizontal pass ``P_i = sum_j input[y+i, x+j] h_j`` is computed
    once, then weighed by ``v_i``: K^2 + K multiply-adds per output value, and no
    ``[B, C*K*K, H, W]`` buffer (which ``F.unfold`` would need: 16 GB at K = 51,
    540 x 960 RGB).

    Gradients flow to all three arguments:
    ``d/dvertical[i] = sum_c g P_i``, ``d/dhorizontal[j] = sum_c g sum_i v_i input[y+i, x+j]``
    (``g`` the incoming gradient), and the input gradient, which the kernels
    gather per input element from the output pixels whose window covers it. No
    step is atomic: forward and backward are deterministic on every device and
    allowed under ``torch.use_deterministic_algorithms(True)``; the CPU results
    are the same for any number of threads. Double backward is not supported.
    There are no exact-position special cases: the op is linear in each argument
    and every window lies inside the padded input. Non-finite values propagate
    as in any sum of products.

    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (float
    accumulation). Under ``torch.autocast`` it runs in float32. CUDA results
    differ from the CPU kernels' in the last bits (nvcc contracts ``a*b+c``
    into fused multiply-adds; the CPU kernels sum in the same order, unfused).

    Raises:
        TypeError: an argument is not a tensor, not floating point, or of
            another dtype than ``input`` (or float16/bfloat16 on CPU).
        ValueError: wrong numbers of dimensions, K < 1, ``horizontal`` not of
            ``vertical``'s shape, another batch size, an input not padded by
            exactly ``K-1`` (its size must be ``H+K-1, W+K-1``), or arguments on
            different devices.

    Source: S. Niklaus, L. Mai, F. Liu, "Video Frame Interpolation via Adaptive
    Separable Convolution", ICCV 2017 (the sepconv-slomo CuPy kernel: CUDA and
    float32 only); S. Niklaus, L. Mai, O. Wang, "Revisiting Adaptive Convolutions
    for Video Frame Interpolation", WACV 2021.
    """
    check_tensors("sepconv", input=input, vertical=vertical, horizontal=horizontal)
    return torch.ops.vfi_ops.sepconv.default(input, vertical, horizontal)


def _check_fake_args(input: Tensor, vertical: Tensor, horizontal: Tensor) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        input.dim() == 4 and vertical.dim() == 4 and horizontal.dim() == 4,
        lambda: (
            "sepconv(): expected input [B, C, H+K-1, W+K-1], vertical and horizontal [B, K, H, W], got "
            f"{tuple(input.shape)}, {tuple(vertical.shape)}, {tuple(horizontal.shape)}"
        ),
    )
    B, K, H, W = vertical.shape
    torch._check_value(K >= 1, lambda: f"sepconv(): expected vertical to have K >= 1 channels, got {K}")
    torch._check_value(
        tuple(horizontal.shape) == tuple(vertical.shape),
        lambda: f"sepconv(): expected horizontal of shape {list(vertical.shape)}, got {tuple(horizontal.shape)}",
    )
    torch._check_value(
        input.shape[0] == B and input.shape[2] == H + K - 1 and input.shape[3] == W + K - 1,
        lambda: f"sepconv(): expected input of shape [{B}, C, {H + K - 1}, {W + K - 1}], got {tuple(input.shape)}",
    )
    check_like("sepconv", "vertical", vertical, "input", input)
    check_like("sepconv", "horizontal", horizontal, "input", input)


def _sepconv_fake(input, vertical, horizontal):
    _check_fake_args(input, vertical, horizontal)
    B, _, H, W = vertical.shape
    return input.new_empty((B, input.shape[1], H, W))


def _sepconv_backward_fake(grad_output, input, vertical, horizontal, output_mask):
    check_output_mask("sepconv_backward", output_mask, 3)
    _check_fake_args(input, vertical, horizontal)
    return tuple(
        t.new_empty(t.shape) if needed else t.new_empty((0,))
        for t, needed in zip((input, vertical, horizontal), output_mask)
    )


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_output):
    input, vertical, horizontal = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:3])
    grads = ctx.ops.sepconv_backward.default(grad_output, input, vertical, horizontal, needs)
    return tuple(g if needed else None for g, needed in zip(grads, needs))


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::sepconv", _sepconv_fake)
    torch.library.register_fake(f"{ns}::sepconv_backward", _sepconv_backward_fake)
    register_backward(ns, "sepconv", _backward, _setup_context)
