"""flow_projection: DAIN's (depth-aware) flow projection, with corrected gradients.

The op is ``torch.ops.vfi_ops.flow_projection`` (CPU and CUDA kernels in csrc/),
which returns ``(output, den)``; this module gives it a Python entry point, a
fake kernel for torch.compile and its autograd formula (the hand-written
``vfi_ops::flow_projection_backward`` op).
"""

from typing import Optional

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward
from .reference.flow_projection import flow_projection as _reference_flow_projection


def flow_projection(flow: Tensor, weight: Optional[Tensor] = None, fill_holes: bool = False) -> Tensor:
    r"""Project a flow field forward: every pixel splats its displacement where it lands.

    Each source pixel ``p = (x, y)`` with displacement ``f`` and weight ``w`` lands
    at ``q = p + f``. If ``0 <= qx <= W-1`` and ``0 <= qy <= H-1``, the 2x2 pixels
    ``(T, L), (T, R), (Bo, L), (Bo, R)`` with ``L = floor(qx)``, ``T = floor(qy)``,
    ``R = min(L+1, W-1)``, ``Bo = min(T+1, H-1)`` each receive ``w * f`` and ``w``
    (at the right and bottom edges a pixel is counted twice, as DAIN does). The
    result is ``-sum(w f) / sum(w)`` at every pixel something lands on.

    Pixels nothing lands on are holes: 0, or with ``fill_holes=True`` the mean of
    the result at the nearest non-hole pixel along each of the four rays (left,
    right, up, down) that finds one; then the holes no ray reached (the corner a
    diagonal motion uncovers both ways) get, by the same rule, the mean of the
    nearest pixels filled so far. That second pass is where we differ from DAIN,
    which leaves those corners at 0; with it every hole is filled, unless nothing
    landed at all. The fill is part of the function, with its gradient, whether
    or not gradients are being recorded.

    Exact positions: a landing exactly on ``W-1`` (or ``H-1``) is inside, one a
    rounding step beyond is dropped. Landing positions are computed in float
    (double for float64 flows): beyond 2^24 px a float32 position is a multiple
    of 2 (4 beyond 2^25, ...), so landings there move by that much; no rounding
    ever makes an address outside the image. The sums are taken in float64, of
    the weights scaled by a power of two per batch item, so the result is
    invariant to scaling all weights and exact for any positive finite weights
    (float32 ones of any magnitude; float64 ones whose ratio within an item stays
    below 2^1000).

    Sources: DAIN (Bao et al., "Depth-Aware Video Frame Interpolation", CVPR
    2019), MEMC-Net (Bao et al., TPAMI 2019). DAIN's recipe for the flow from the
    middle frame ``t`` back to frame 0:
    ``flow_projection(t * F_01, 1 / depth_0 + 1e-6, fill_holes=True)``. With
    ``weight=None`` it is MEMC-Net's flow projection.

    Args:
        flow: ``[B, 2, H, W]`` displacement to project, in pixels (channel 0 is x,
            channel 1 is y), already scaled by the caller.
        weight: ``[B, 1, H, W]`` positive, finite weights (e.g. inverse depth), or
            ``None`` for uniform weights (no tensor of ones is made). A source whose
            weight is not positive and finite is dropped, so the result stays finite.
        fill_holes: fill holes as described above.

    Returns:
        ``[B, 2, H, W]`` tensor of ``flow``'s dtype.

    Raises:
        ValueError: shapes that do not match (``flow`` ``[B, 2, H, W]``, ``weight``
            ``[B, 1, H, W]``), tensors on different devices. TypeError: an
            argument that is not a tensor, a non-float ``flow``, a ``weight`` of
            another dtype.

    Sources that land outside the image, or whose flow is NaN or infinite, are
    dropped; nothing is ever written outside the output. Gradients flow to
    ``flow`` and ``weight``, through filled holes too, with the weight gradient
    ``dL/dw_p = sum_n sum_c -g[n, c] (f[p, c] + O[n, c]) / den[n]`` over the pixels
    ``n`` that ``p`` lands on (``O`` the output, ``den`` the summed weight; DAIN's
    implementation has a sign error there). The landing positions are piecewise
    constant in ``flow``, so only the splatted values carry its gradient. Each
    fill pass is one scan per row and per column: its cost does not grow with
    the number of holes. The raw op ``torch.ops.vfi_ops.flow_projection``
    returns ``(output, den)``, ``den`` ``[B, 1, H, W]`` the summed scaled weight
    per pixel in float64, which the backward uses.
    Layouts: any, and batch size 0; results are contiguous.

    Determinism: the CPU kernels are deterministic (bitwise, for any number of
    threads). The CUDA forward accumulates with atomic adds; under
    ``torch.use_deterministic_algorithms(True)`` this function computes CUDA
    tensors with :func:`vfi_ops.reference.flow_projection` instead (deterministic
    ``index_add``), and the raw op ``torch.ops.vfi_ops.flow_projection`` raises
    PyTorch's nondeterministic-operation error. The backward is a gather and is
    deterministic everywhere.
    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (sums in float64).
    CUDA results differ from the CPU kernels' in the last bits (nvcc contracts
    ``a*b+c`` into fused multiply-adds; atomic sums add in varying order).
    """
    check_tensors("flow_projection", flow=flow, **({} if weight is None else {"weight": weight}))
    if flow.is_cuda and torch.are_deterministic_algorithms_enabled():
        return _deterministic_fallback(flow, weight, fill_holes)
    return torch.ops.vfi_ops.flow_projection.default(flow, weight, fill_holes)[0]


def _deterministic_fallback(flow: Tensor, weight: Optional[Tensor], fill_holes: bool) -> Tensor:
    _check_fake_args(flow, weight)
    torch._check_type(
        flow.is_floating_point(),
        lambda: f"flow_projection(): expected flow to be a floating-point tensor, but got dtype {flow.dtype}",
    )
    return _reference_flow_projection(flow, weight, fill_holes)


def _check_fake_args(flow: Tensor, weight: Optional[Tensor]) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        flow.dim() == 4 and flow.shape[1] == 2,
        lambda: f"flow_projection(): expected flow of shape [B, 2, H, W], but got {tuple(flow.shape)}",
    )
    if weight is None:
        return
    check_like("flow_projection", "weight", weight, "flow", flow)
    expected = (flow.shape[0], 1, flow.shape[2], flow.shape[3])
    torch._check_value(
        weight.dim() == 4 and tuple(weight.shape) == expected,
        lambda: (
            f"flow_projection(): expected weight of shape {list(expected)} (B, 1, H, W of flow), but got {tuple(weight.shape)}"
        ),
    )


def _flow_projection_fake(flow, weight=None, fill_holes=False):
    _check_fake_args(flow, weight)
    B, _, H, W = flow.shape
    return flow.new_empty(flow.shape), flow.new_empty((B, 1, H, W), dtype=torch.float64)


def _flow_projection_backward_fake(grad_output, flow, weight, output, den, fill_holes, output_mask):
    check_output_mask("flow_projection_backward", output_mask, 2)
    _check_fake_args(flow, weight)
    grad_flow = flow.new_empty(flow.shape) if output_mask[0] else flow.new_empty((0,))
    need_weight = output_mask[1] and weight is not None
    grad_weight = weight.new_empty(weight.shape) if need_weight else flow.new_empty((0,))
    return grad_flow, grad_weight


def _setup_context(ctx, inputs, output):
    flow, weight, fill_holes = inputs
    out, den = output
    ctx.save_for_backward(flow, weight, out, den)
    ctx.fill_holes = fill_holes
    ctx.mark_non_differentiable(den)


def _backward(ctx, grad_output, _grad_den):
    flow, weight, out, den = ctx.saved_tensors
    # The dispatcher drops arguments equal to their defaults (weight=None), and
    # needs_input_grad with them.
    needs = tuple(ctx.needs_input_grad) + (False, False)
    need_flow, need_weight = needs[0], needs[1] and weight is not None
    grad_flow, grad_weight = ctx.ops.flow_projection_backward.default(
        grad_output, flow, weight, out, den, ctx.fill_holes, [need_flow, need_weight]
    )
    return (grad_flow if need_flow else None, grad_weight if need_weight else None, None)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::flow_projection", _flow_projection_fake)
    torch.library.register_fake(f"{ns}::flow_projection_backward", _flow_projection_backward_fake)
    register_backward(ns, "flow_projection", _backward, _setup_context)
