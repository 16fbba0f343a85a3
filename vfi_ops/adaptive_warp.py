"""adaptive_warp: DAIN's kernel-based adaptive warping layer, with the input gradient fixed.

The op is ``torch.ops.vfi_ops.adaptive_warp`` (CPU and CUDA kernels in csrc/);
this module gives it a Python entry point, a fake kernel for torch.compile and
its autograd formula (the hand-written ``vfi_ops::adaptive_warp_backward`` op).
"""

import math

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward


def adaptive_warp(input: Tensor, flow: Tensor, kernel: Tensor) -> Tensor:
    r"""Warp ``input`` by ``flow``, weighing an F x F window with a per-pixel kernel (DAIN).

    DAIN's adaptive warping layer (Bao et al., "Depth-Aware Video Frame
    Interpolation", CVPR 2019; its FilterInterpolation layer).

    At pixel ``(x, y)`` with flow ``(u, v)`` the sample point is ``(x', y') = (x+u, y+v)``.
    It is valid if finite, ``0 <= x' <= W-1``, ``0 <= y' <= H-1``, ``|u| < W/2`` and
    ``|v| < H/2``. Then, with ``X = floor(x')``, ``Y = floor(y')``, ``a = x'-X``,
    ``b = y'-Y``, tap ``(m, n)`` (``0 <= m, n < F``) reads
    ``input[clamp(Y-F/2+1+m, 0, H-1), clamp(X-F/2+1+n, 0, W-1)]`` with weight
    ``kernel[F*m+n]``; the quadrant sums ``S_TL`` (``m, n < F/2``), ``S_TR``
    (``m < F/2 <= n``), ``S_BL``, ``S_BR`` are blended bilinearly:
    ``out = (1-a)(1-b) S_TL + a(1-b) S_TR + (1-a)b S_BL + ab S_BR``.
    At invalid pixels ``out = input`` (an unwarped copy).

    Args:
        input: ``[B, C, H, W]`` float tensor (DAIN: frames, C = 3, and context
            features, C around 196).
        flow: ``[B, 2, H, W]`` in pixels; channel 0 is x (width), channel 1 is y.
        kernel: ``[B, F*F, H, W]`` raw (unnormalised) per-pixel weights, F even
            (DAIN: F = 4, 16 channels). With F = 2 and all-ones kernels the op is
            bilinear warping at valid pixels.

    Returns:
        ``[B, C, H, W]`` tensor of ``input``'s dtype.

    Gradients flow to all three inputs. At invalid pixels the input gradient is
    the identity (DAIN's implementation drops it) and flow and kernel get none.
    The output jumps where ``x'`` or ``y'`` crosses an integer (the window moves);
    on an integer the window is that of the cell to the right (``a = 0``) and the
    flow gradient is that window's derivative, also at ``x' = W-1`` (valid, with
    ``X = W-1``). ``|u| = W/2`` exactly is invalid. Positions are computed in float
    (double for float64); beyond 2^24 px float32 positions are rounded, and a
    window is never placed past the image. The backward reads each window once
    per channel, forming ``R_t = sum_c g_c input_c[tap t]``, from which the kernel
    gradient (blend weight times ``R_t``, owned by its pixel: no atomics) and the
    flow gradient follow.

    Raises:
        ValueError: shapes that do not match (``kernel`` with an even square
            number of channels, ``flow`` with 2, one batch and size), tensors on
            different devices. TypeError: an argument that is not a tensor, a
            non-float ``input``, ``flow`` or ``kernel`` of another dtype.

    Determinism: the forward, the flow gradient and the kernel gradient are
    bitwise the same for any number of CPU threads. The CPU input gradient is
    deterministic for a given thread count; when it is computed with the other
    gradients for fewer (batch x channel) planes than threads, it is summed from
    per-band copies, so another thread count may change its last bits. On CUDA
    the input gradient is accumulated with atomic adds, so under
    ``torch.use_deterministic_algorithms(True)`` it raises PyTorch's
    nondeterministic-operation error; the flow and kernel gradients are
    deterministic there.
    The CUDA input gradient's float atomic adds flush subnormals to zero, as a
    GPU's single-precision atomic add does: a contribution below ``2^-126`` in
    magnitude adds nothing there (float64 keeps subnormals).
    Layouts: any, and batch size 0; results are contiguous.
    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (float accumulation).
    CUDA results differ from the CPU kernels' in the last bits (nvcc contracts
    ``a*b+c`` into fused multiply-adds; atomic sums add in varying order).
    """
    check_tensors("adaptive_warp", input=input, flow=flow, kernel=kernel)
    return torch.ops.vfi_ops.adaptive_warp.default(input, flow, kernel)


def _check_fake_args(input: Tensor, flow: Tensor, kernel: Tensor) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        input.dim() == 4, lambda: f"adaptive_warp(): expected input of shape [B, C, H, W], got {tuple(input.shape)}"
    )
    B, _, H, W = input.shape
    torch._check_value(
        tuple(flow.shape) == (B, 2, H, W),
        lambda: f"adaptive_warp(): expected flow of shape {[B, 2, H, W]}, got {tuple(flow.shape)}",
    )
    torch._check_value(
        kernel.dim() == 4 and (kernel.shape[0], kernel.shape[2], kernel.shape[3]) == (B, H, W),
        lambda: f"adaptive_warp(): expected kernel of shape [{B}, F*F, {H}, {W}], got {tuple(kernel.shape)}",
    )
    F = math.isqrt(kernel.shape[1])
    torch._check_value(
        F * F == kernel.shape[1] and F >= 2 and F % 2 == 0,
        lambda: f"adaptive_warp(): expected kernel to have F*F channels with F even, got {kernel.shape[1]}",
    )
    check_like("adaptive_warp", "flow", flow, "input", input)
    check_like("adaptive_warp", "kernel", kernel, "input", input)


def _adaptive_warp_fake(input, flow, kernel):
    _check_fake_args(input, flow, kernel)
    return input.new_empty(input.shape)


def _adaptive_warp_backward_fake(grad_output, input, flow, kernel, output_mask):
    check_output_mask("adaptive_warp_backward", output_mask, 3)
    _check_fake_args(input, flow, kernel)
    return tuple(
        t.new_empty(t.shape) if needed else t.new_empty((0,)) for t, needed in zip((input, flow, kernel), output_mask)
    )


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_output):
    input, flow, kernel = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:3])
    grads = ctx.ops.adaptive_warp_backward.default(grad_output, input, flow, kernel, needs)
    return tuple(g if needed else None for g, needed in zip(grads, needs))


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::adaptive_warp", _adaptive_warp_fake)
    torch.library.register_fake(f"{ns}::adaptive_warp_backward", _adaptive_warp_backward_fake)
    register_backward(ns, "adaptive_warp", _backward, _setup_context)
