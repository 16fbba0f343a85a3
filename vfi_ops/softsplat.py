"""softsplat: softmax splatting, i.e. forward warping of an image or feature map by a flow.

The op is ``torch.ops.vfi_ops.softsplat`` (CPU and CUDA kernels in csrc/), which
returns ``(output, den, metric_max)``; this module gives it a Python entry
point, a fake kernel for torch.compile and its autograd formula (the
hand-written ``vfi_ops::softsplat_backward`` op).
"""

from typing import Optional

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward
from .reference.softsplat import softsplat as _reference_softsplat

MODES = ("sum", "avg", "linear", "soft")
METRIC_MODES = ("linear", "soft")


def softsplat(input: Tensor, flow: Tensor, metric: Optional[Tensor] = None, mode: str = "soft") -> Tensor:
    r"""Forward-warp ``input`` by ``flow``: every pixel splats its value where it lands.

    Softmax splatting (Niklaus & Liu, "Softmax Splatting for Video Frame
    Interpolation", CVPR 2020). Each source pixel ``p = (x, y)`` lands at
    ``q = p + flow[:, :, y, x]`` and adds its value, with the bilinear weight
    ``w_t(q)`` of each of the four pixels ``t`` around ``q``, times its splat
    factor ``z_p``:

    - ``"sum"``: ``out[t] = sum_p w_t(q_p) input[p]`` (``z = 1``);
    - ``"avg"``: ``sum_p w input / sum_p w``;
    - ``"linear"``: ``sum_p w Z input / sum_p w Z`` with ``Z = metric`` (positive);
    - ``"soft"``: ``sum_p w exp(Z) input / sum_p w exp(Z)``.

    The normalised modes give 0 where nothing landed (no epsilon anywhere, so
    ``"avg"`` of a constant image is that constant wherever something landed).
    They are computed stably: ``Z`` is divided by (``"linear"``) or ``exp(Z)``
    taken relative to (``"soft"``) each batch item's largest metric ``M`` among
    the sources that land, which leaves the ratio unchanged and cannot overflow
    (a metric of 1000 in float32 works; the result only depends on ``Z - M``,
    resp. ``Z / M``). A source whose factor underflows to 0 (``Z - M`` below
    about -87 in float32, -745 in float64) contributes nothing. (That is the
    forward: gradients whose true value exceeds the dtype's range, as near such a
    source in float32, come out infinite or NaN, as the reference's do.)

    Positions: pixel centres are at integer coordinates, channel 0 of the flow is
    x (width), channel 1 is y (height). With ``X = floor(qx)``, ``a = qx - X``
    (``Y``, ``b`` likewise) the taps are ``(Y, X), (Y, X+1), (Y+1, X), (Y+1, X+1)``
    with weights ``(1-a)(1-b), a(1-b), (1-a)b, ab``. Conventions:

    - a target exactly on an integer takes the cell ``[X, X+1]`` with fraction 0
      (as ``grid_sample``), so a zero flow gives back ``input`` wherever the
      source is not dropped (exactly for ``"sum"`` and ``"avg"``, to rounding
      for the others) and an integer flow moves whole pixels; the flow gradient
      there is the one-sided derivative of that cell;
    - a tap outside the image is dropped (it receives nothing and contributes
      nothing to any gradient): a target exactly on column ``W-1`` (row ``H-1``)
      is inside, its right (bottom) taps dropped; a target in ``(W-1, W)`` gives
      column ``W-1`` the weight ``1-a``, one in ``(-1, 0)`` gives column 0 the
      weight ``a``; on ``qx = -1`` exactly the cell is ``[-1, 0]``: column 0 gets
      weight 0, but the flow gradient is that cell's; from ``qx >= W`` or
      ``qx < -1`` nothing lands (likewise in y);
    - a source with a NaN or infinite target is dropped, as is one whose metric
      is NaN or infinite (``"linear"``, ``"soft"``) or not positive (``"linear"``);
      targets are range-checked before any conversion to an index, and every tap
      against the image in integers: nothing is ever written outside the output;
    - an infinite or NaN input value reaches only the pixels its own taps land on
      (taps of weight 0 inside the image included: 0 * inf is NaN, as IEEE
      arithmetic and the reference have it), for any number of threads.

    Args:
        input: ``[B, C, H, W]`` float tensor (an image in [0, 1], or features).
        flow: ``[B, 2, H, W]`` forward flow of ``input``'s pixels, in pixels.
        metric: ``[B, 1, H, W]`` importance of each source (e.g. the negative
            brightness-constancy error, scaled), required by ``"linear"`` and
            ``"soft"`` and refused by ``"sum"`` and ``"avg"``.
        mode: ``"sum"``, ``"avg"``, ``"linear"`` or ``"soft"``.

    Returns:
        ``[B, C, H, W]`` tensor of ``input``'s dtype.

    Raises:
        ValueError: unknown ``mode``; ``metric`` missing (``"linear"``, ``"soft"``)
            or given (``"sum"``, ``"avg"``); a shape that does not match ``input``;
            tensors on different devices. TypeError: a non-float ``input``, or
            ``flow``/``metric`` of another dtype than ``input``.

    Gradients flow to ``input``, ``flow`` and ``metric``, through the bilinear
    weights and the normalisation (``M`` counts as a constant: the result does
    not depend on it); they are exact away from integer targets. A pixel where
    only zero weights landed stays 0 and passes no gradient. With
    ``den[t] = sum_p w_t z_p`` and
    ``G[p, t] = sum_c g[c, t] (input[c, p] - out[c, t]) / den[t]``
    (``"sum"``: ``g[c, t] input[c, p]``): ``dL/dinput[c, p] = z_p sum_t w_t g[c, t] / den[t]``
    (``"sum"``: without ``/ den``), ``dL/dflow[p] = z_p sum_t (dw_t/dq) G[p, t]``,
    ``dL/dmetric[p] = (dz_p/dZ_p) sum_t w_t G[p, t]`` (``dz/dZ = z`` for ``"soft"``,
    ``1/M`` for ``"linear"``). The backward is a gather: each source reads its
    four targets.

    Determinism: the CPU kernels are deterministic (bitwise, for any number of
    threads): the target rows are split into one band per thread, each band
    splats, in source order, what lands in its rows (no atomics). The CUDA forward accumulates with atomic adds; under
    ``torch.use_deterministic_algorithms(True)`` this function computes CUDA
    tensors with :func:`vfi_ops.reference.softsplat` instead (deterministic
    ``index_add``), and the raw op ``torch.ops.vfi_ops.softsplat`` raises
    PyTorch's nondeterministic-operation error. The backward is a gather and is
    deterministic everywhere.
    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA (float accumulation).
    CUDA results differ from the CPU kernels' in the last bits (nvcc contracts
    ``a*b+c`` into fused multiply-adds; atomic sums add in varying order).
    Layouts: any, and batch size 0; results are contiguous. The raw op
    ``torch.ops.vfi_ops.softsplat`` returns ``(output, den, metric_max)``: the
    splatted weight per pixel and each item's ``M`` (0 for ``"sum"`` and
    ``"avg"``), in float32 for float16/bfloat16 inputs; the backward uses them.
    Unlike the original CuPy implementation: a CPU path, no CuPy, float64 (so
    ``gradcheck``), checked positions, no overflow.

    Subnormals: the CUDA forward accumulates float32 (and float16/bfloat16, in
    float) with the GPU's float atomic add, which flushes subnormals to zero
    (CUDA C++ Programming Guide, "Floating-Point Standard": single-precision
    atomic adds on global memory always run in flush-to-zero mode). A
    contribution ``w_t z_p`` to the denominator or ``w_t z_p input[p]`` to the
    numerator below ``2^-126`` (``torch.finfo(torch.float32).tiny``) in magnitude
    adds nothing there, and a sum below it is stored as 0. So on CUDA the
    smallest factor that counts is ``w_t z_p >= 2^-126`` (in ``"soft"`` mode,
    ``Z - M >= -87.3`` for a tap of weight 1): a pixel reached only by smaller
    ones is 0 there, while the CPU kernels (which keep subnormals) give it the
    value. float64 keeps subnormals on both.
    """
    check_tensors("softsplat", input=input, flow=flow, **({} if metric is None else {"metric": metric}))
    if input.is_cuda and torch.are_deterministic_algorithms_enabled():
        return _deterministic_fallback(input, flow, metric, mode)
    return torch.ops.vfi_ops.softsplat.default(input, flow, metric, mode)[0]


def _deterministic_fallback(input: Tensor, flow: Tensor, metric: Optional[Tensor], mode: str) -> Tensor:
    _check_fake_args(input, flow, metric, mode)
    torch._check_type(
        input.is_floating_point(),
        lambda: f"softsplat(): expected input to be a floating-point tensor, but got dtype {input.dtype}",
    )
    # Accumulate in float for float16/bfloat16, as the kernels do.
    acc = _acc_dtype(input.dtype)
    out = _reference_softsplat(input.to(acc), flow.to(acc), None if metric is None else metric.to(acc), mode)
    return out.to(input.dtype)


def _check_fake_args(input: Tensor, flow: Tensor, metric: Optional[Tensor], mode: str) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        mode in MODES,
        lambda: f"softsplat(): expected mode to be one of 'sum', 'avg', 'linear', 'soft', but got {mode!r}",
    )
    torch._check_value(
        input.dim() == 4,
        lambda: f"softsplat(): expected input of shape [B, C, H, W] (4-D), but got {tuple(input.shape)}",
    )
    B, _, H, W = input.shape
    check_like("softsplat", "flow", flow, "input", input)
    torch._check_value(
        tuple(flow.shape) == (B, 2, H, W),
        lambda: f"softsplat(): expected flow of shape {[B, 2, H, W]} (B, H, W of input), but got {tuple(flow.shape)}",
    )
    if mode not in METRIC_MODES:
        torch._check_value(
            metric is None,
            lambda: (
                f"softsplat(): expected metric to be None for mode '{mode}' (only 'linear' and 'soft' use it), "
                f"but got a tensor of shape {tuple(metric.shape)}"
            ),
        )
        return
    torch._check_value(
        metric is not None, lambda: f"softsplat(): mode '{mode}' needs a metric of shape {[B, 1, H, W]}, but got None"
    )
    check_like("softsplat", "metric", metric, "input", input)
    torch._check_value(
        tuple(metric.shape) == (B, 1, H, W),
        lambda: (
            f"softsplat(): expected metric of shape {[B, 1, H, W]} (B, H, W of input), but got {tuple(metric.shape)}"
        ),
    )


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _softsplat_fake(input, flow, metric=None, mode="soft"):
    _check_fake_args(input, flow, metric, mode)
    B, _, H, W = input.shape
    acc = _acc_dtype(input.dtype)
    return input.new_empty(input.shape), input.new_empty((B, 1, H, W), dtype=acc), input.new_empty((B,), dtype=acc)


def _softsplat_backward_fake(grad_output, input, flow, metric, mode, output, den, metric_max, output_mask):
    check_output_mask("softsplat_backward", output_mask, 3)
    _check_fake_args(input, flow, metric, mode)
    grad_input = input.new_empty(input.shape) if output_mask[0] else input.new_empty((0,))
    grad_flow = flow.new_empty(flow.shape) if output_mask[1] else input.new_empty((0,))
    need_metric = output_mask[2] and metric is not None
    grad_metric = metric.new_empty(metric.shape) if need_metric else input.new_empty((0,))
    return grad_input, grad_flow, grad_metric


def _setup_context(ctx, inputs, output):
    input, flow, metric, mode = inputs
    out, den, metric_max = output
    ctx.save_for_backward(input, flow, metric, out, den, metric_max)
    ctx.mode = mode
    ctx.mark_non_differentiable(den, metric_max)


def _backward(ctx, grad_output, _grad_den, _grad_metric_max):
    input, flow, metric, out, den, metric_max = ctx.saved_tensors
    # The dispatcher drops arguments equal to their defaults (metric=None), and
    # needs_input_grad with them.
    needs = tuple(ctx.needs_input_grad) + (False, False, False)
    mask = [needs[0], needs[1], needs[2] and metric is not None]
    grad_input, grad_flow, grad_metric = ctx.ops.softsplat_backward.default(
        grad_output, input, flow, metric, ctx.mode, out, den, metric_max, mask
    )
    return (grad_input if mask[0] else None, grad_flow if mask[1] else None, grad_metric if mask[2] else None, None)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::softsplat", _softsplat_fake)
    torch.library.register_fake(f"{ns}::softsplat_backward", _softsplat_backward_fake)
    register_backward(ns, "softsplat", _backward, _setup_context)
