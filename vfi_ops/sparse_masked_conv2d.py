"""sparse_masked_conv2d: a 2-D convolution computed only where a mask is on.

The op is ``torch.ops.vfi_ops.sparse_masked_conv2d`` (CPU and CUDA kernels in
csrc/); this module gives it a Python entry point that takes arguments as
``F.conv2d`` does, a fake kernel for torch.compile and its autograd formula (the
hand-written ``vfi_ops::sparse_masked_conv2d_backward`` op).
"""

import operator
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._layout import empty_in_layout
from ._library import for_each_library, register_backward

IntPair = Union[int, Sequence[int]]


def _int(name: str, value) -> int:
    """Any integer (int, numpy and torch integers: whatever has __index__), as an int."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"sparse_masked_conv2d(): expected {name} to be an integer, but got {value!r} ({type(value).__name__})"
        ) from None


def _pair(name: str, value: IntPair) -> Tuple[int, int]:
    try:
        value = operator.index(value)
        return value, value
    except TypeError:
        pass
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise TypeError(
            f"sparse_masked_conv2d(): expected {name} to be an int or 2 ints, but got {value!r} "
            f"({type(value).__name__})"
        )
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"sparse_masked_conv2d(): expected {name} to be an int or 2 ints, but got {value!r}")
    return tuple(_int(name, v) for v in value)


def _padding(padding: Union[str, IntPair], weight: Tensor, stride, dilation) -> Tuple[int, int]:
    """Resolves F.conv2d's 'valid' and 'same' (the latter when it pads both sides alike)."""
    if not isinstance(padding, str):
        return _pair("padding", padding)
    if padding == "valid":
        return 0, 0
    if padding != "same":
        raise ValueError(
            f"sparse_masked_conv2d(): padding must be an int, 2 ints, 'valid' or 'same', but got {padding!r}"
        )
    if stride != (1, 1):
        raise ValueError("sparse_masked_conv2d(): padding='same' needs stride 1, as in F.conv2d")
    pads = []
    for d, k in zip(dilation, weight.shape[2:]):
        total = d * (k - 1)
        if total % 2:
            raise ValueError(
                f"sparse_masked_conv2d(): padding='same' with a {tuple(weight.shape[2:])} kernel and dilation "
                f"{dilation} pads one side more than the other, which is not supported; give the padding explicitly"
            )
        pads.append(total // 2)
    return tuple(pads)


def sparse_masked_conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    mask: Tensor,
    stride: IntPair = 1,
    padding: Union[str, IntPair] = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    fill: Optional[Tensor] = None,
    *,
    out: Optional[Tensor] = None,
) -> Tensor:
    r"""``F.conv2d(input, weight, bias, stride, padding, dilation, groups)`` where ``mask`` is on, ``fill`` elsewhere.

    Only the active output positions are computed: their input patches are
    gathered, multiplied by the weight with a GEMM (BLAS on CPU, cuBLAS on
    CUDA) and scattered into the output, so the work and the extra memory grow
    with the number of active positions. Past the density where that stops
    paying (60% active on CPU, 50% on CUDA) the dense convolution computes it
    instead. The result equals ``torch.where(mask != 0, F.conv2d(...), fill)``,
    and so do the gradients; on the sparse route, inputs that only inactive
    positions would read are never read (NaN there cannot reach the weight
    gradient as ``0 * NaN``). Source: the spatially pruned decoders of UGSP-style
    models (uncertainty-guided spatial pruning), whose masks come from a coarser
    level.

    How: the active positions are listed once per call (``nonzero`` on the
    device), then taken in chunks: their input patches are gathered into a
    matrix, multiplied by the weight (one GEMM per group) and scattered into the
    output; the backward gathers the incoming gradient the same way, and its
    input gradient is the transposed scatter. On CPU each thread runs whole
    forward chunks sized for its L2 cache. Extra memory: the list of active
    positions (8 bytes each) and the chunk buffers (512 KiB of patches per
    thread for the CPU forward, 4 MiB for the CPU backward, 128 MiB on CUDA),
    whatever the image size. An all-inactive mask costs the output (a copy of
    ``fill``, or zeros) and the ``nonzero``.

    Args:
        input: ``[B, C_in, H, W]`` float tensor.
        weight: ``[C_out, C_in / groups, kh, kw]``.
        bias: ``[C_out]`` or None.
        mask: ``[B, 1, H_out, W_out]``, the output's size; bool, or any real dtype
            with nonzero (NaN included) meaning active. It gets no gradient.
        stride, padding, dilation, groups: as in ``F.conv2d`` (zero padding).
            ``padding`` may also be ``'valid'``, or ``'same'`` where that pads
            both sides equally (odd kernels).
        fill: ``[B, C_out, H_out, W_out]``, the output where the mask is off
            (e.g. a coarse estimate); None means zeros.
        out: where to write the result instead of a new tensor (e.g. to reuse
            one buffer across layers at inference: fresh full-size tensors cost
            page faults and zeroing). It must be exactly the tensor the op would
            return (shape, dtype, device, layout: see
            :func:`vfi_ops.output_memory_format`) and share no memory with the
            inputs, except that it may be ``fill`` itself. No autograd: raises
            if grad mode is on and an argument requires grad. Not autocast (as
            PyTorch's out= variants): it runs in the arguments' dtype.

    Returns:
        ``[B, C_out, H_out, W_out]`` tensor of ``input``'s dtype, channels-last
        if ``input`` is (then the whole computation runs channels-last, which
        moves each patch as runs of channels and is the faster layout on CPU);
        ``out`` itself when given.

    Raises:
        ValueError: shapes that do not match (``mask`` of the output's size,
            ``weight``'s channels and ``groups``), bad ``stride``, ``padding``,
            ``dilation`` or ``groups`` values, tensors on different devices, an
            ``out`` of another shape, device or layout, or sharing memory with
            the inputs. TypeError: an argument that is not a tensor, a non-float
            ``input``, ``weight``, ``bias``, ``fill`` or ``out`` of another
            dtype, a ``stride``, ``padding``, ``dilation`` or ``groups`` that is
            not of an integer type (``int``, ``numpy.int64`` and integer tensors
            are). RuntimeError: ``out`` with an argument that requires grad
            (grad mode on).

    Gradients flow to input, weight, bias and fill: the fill gets the incoming
    gradient where the mask is off, the convolution's parameters get the
    gradient of the active positions only. With no input channels
    (``C_in = 0``) the convolution is its bias (zeros without) where the mask is
    on, on both routes and devices.

    Determinism: the CPU kernels are deterministic, bitwise for any number of
    threads (each input channel's gradient belongs to one thread). On CUDA the
    sparse input gradient is accumulated with atomic adds; under
    ``torch.use_deterministic_algorithms(True)`` the backward takes the dense
    route (deterministic, at dense cost). Those float atomic adds flush
    subnormals to zero, as a GPU's single-precision atomic add does: a
    contribution below ``2^-126`` in magnitude adds nothing there (float64 keeps
    subnormals).

    ``out=``: the raw overload is ``torch.ops.vfi_ops.sparse_masked_conv2d.out``
    and returns ``out`` (ATen's convention); it refuses autograd too (as
    ``torch.mm(..., out=)`` does). Arguments of other tensors are accepted in
    any layout (sliced, transposed); views of ``out``'s own memory whose overlap
    cannot be decided exactly are copied first. Under ``torch.compile`` this
    function with ``out=`` compiles as the functional op and a copy; the raw
    ``.out`` overload does not compile (torch cannot functionalize a custom
    ``out=`` op that returns its ``out``).
    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA. On the sparse
    route those accumulate in float: the patch and weight matrices are converted
    to float, so the GEMMs are float GEMMs whatever cuBLAS's reduced-precision
    settings (TF32 only if ``torch.backends.cuda.matmul.allow_tf32`` is set). The
    dense route is cuDNN's convolution, with ``F.conv2d``'s precision. CUDA results
    differ from the CPU kernels' in the last bits (other GEMM and summation orders,
    fused multiply-adds).
    """
    check_tensors("sparse_masked_conv2d", input=input, weight=weight, mask=mask)
    stride, dilation = _pair("stride", stride), _pair("dilation", dilation)
    padding = _padding(padding, weight, stride, dilation)
    args = (input, weight, bias, mask, list(stride), list(padding), list(dilation), _int("groups", groups), fill)
    if out is None:
        return torch.ops.vfi_ops.sparse_masked_conv2d.default(*args)
    if torch.compiler.is_compiling():
        return _compiled_out(args, out)
    return torch.ops.vfi_ops.sparse_masked_conv2d.out(*args, out=out)


def _compiled_out(args, out: Tensor) -> Tensor:
    """out= under torch.compile: the functional op, then a copy (the compiler
    plans the memory anyway). torch.compile cannot functionalize a custom out=
    overload that returns its out (see csrc/ops.cpp)."""
    if torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (*args, out)):
        raise RuntimeError(
            "sparse_masked_conv2d(): out= does not support autograd, but an argument requires grad "
            "(call it under torch.no_grad(), or without out=)"
        )
    return out.copy_(torch.ops.vfi_ops.sparse_masked_conv2d.default(*args))


def _output_size(input, weight, stride, padding, dilation):
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(input.shape[2:], weight.shape[2:], stride, padding, dilation)
    )


def _check_fake_args(input, weight, mask, stride, padding, dilation, groups):
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    op = "sparse_masked_conv2d()"
    torch._check_value(
        input.dim() == 4, lambda: f"{op}: expected input of shape [B, C_in, H, W], got {tuple(input.shape)}"
    )
    torch._check_value(
        weight.dim() == 4,
        lambda: f"{op}: expected weight of shape [C_out, C_in / groups, kh, kw], got {tuple(weight.shape)}",
    )
    torch._check_value(
        groups >= 1
        and input.shape[1] % groups == 0
        and weight.shape[0] % groups == 0
        and weight.shape[1] * groups == input.shape[1],
        lambda: (
            f"{op}: weight of shape {tuple(weight.shape)} does not match {input.shape[1]} input channels and groups={groups}"
        ),
    )
    check_like("sparse_masked_conv2d", "weight", weight, "input", input)
    check_like("sparse_masked_conv2d", "mask", mask, "input", input, same_dtype=False)
    H_out, W_out = _output_size(input, weight, stride, padding, dilation)
    torch._check_value(H_out >= 1 and W_out >= 1, lambda: f"{op}: the padded input is smaller than the dilated kernel")
    expected = (input.shape[0], 1, H_out, W_out)
    torch._check_value(
        tuple(mask.shape) == expected, lambda: f"{op}: expected mask of shape {list(expected)}, got {tuple(mask.shape)}"
    )
    return H_out, W_out


def _sparse_masked_conv2d_fake(
    input, weight, bias, mask, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, fill=None
):
    # The dispatcher drops trailing arguments equal to their schema defaults.
    H_out, W_out = _check_fake_args(input, weight, mask, stride, padding, dilation, groups)
    shape = (input.shape[0], weight.shape[0], H_out, W_out)
    if bias is not None:
        torch._check_value(
            tuple(bias.shape) == shape[1:2],
            lambda: f"sparse_masked_conv2d(): expected bias of shape [{shape[1]}], got {tuple(bias.shape)}",
        )
    if fill is not None:
        torch._check_value(
            tuple(fill.shape) == shape,
            lambda: f"sparse_masked_conv2d(): expected fill of shape {list(shape)}, got {tuple(fill.shape)}",
        )
    return empty_in_layout(input, shape)


def _sparse_masked_conv2d_out_fake(
    input, weight, bias, mask, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, fill=None, *, out
):
    expected = _sparse_masked_conv2d_fake(input, weight, bias, mask, stride, padding, dilation, groups, fill)
    check_like("sparse_masked_conv2d", "out", out, "input", input)
    torch._check_value(
        tuple(out.shape) == tuple(expected.shape),
        lambda: f"sparse_masked_conv2d(): expected out of shape {list(expected.shape)}, got {tuple(out.shape)}",
    )
    return out


def _sparse_masked_conv2d_backward_fake(
    grad_output, input, weight, mask, stride, padding, dilation, groups, output_mask
):
    check_output_mask("sparse_masked_conv2d_backward", output_mask, 4)
    _check_fake_args(input, weight, mask, stride, padding, dilation, groups)
    return (
        empty_in_layout(input, input.shape) if output_mask[0] else input.new_empty(0),
        input.new_empty(weight.shape if output_mask[1] else (0,)),
        input.new_empty(weight.shape[:1] if output_mask[2] else (0,)),
        empty_in_layout(input, grad_output.shape) if output_mask[3] else input.new_empty(0),
    )


# The schema's defaults, for the trailing arguments the dispatcher drops.
_DEFAULTS = (None, None, None, None, (1, 1), (0, 0), (1, 1), 1, None)


def _setup_context(ctx, inputs, output):
    input, weight, bias, mask, stride, padding, dilation, groups, fill = tuple(inputs) + _DEFAULTS[len(inputs) :]
    ctx.save_for_backward(input, weight, mask)
    ctx.conv = (list(stride), list(padding), list(dilation), groups)
    ctx.has_bias, ctx.has_fill = bias is not None, fill is not None


def _backward(ctx, grad_output):
    input, weight, mask = ctx.saved_tensors
    # The dispatcher drops trailing arguments equal to their defaults, and
    # needs_input_grad with them.
    needs = tuple(ctx.needs_input_grad) + (False,) * 9
    wanted = [needs[0], needs[1], needs[2] and ctx.has_bias, needs[8] and ctx.has_fill]
    grads = ctx.ops.sparse_masked_conv2d_backward.default(grad_output, input, weight, mask, *ctx.conv, wanted)
    grad_input, grad_weight, grad_bias, grad_fill = (g if w else None for g, w in zip(grads, wanted))
    return grad_input, grad_weight, grad_bias, None, None, None, None, None, grad_fill


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::sparse_masked_conv2d", _sparse_masked_conv2d_fake)
    torch.library.register_fake(f"{ns}::sparse_masked_conv2d.out", _sparse_masked_conv2d_out_fake)
    torch.library.register_fake(f"{ns}::sparse_masked_conv2d_backward", _sparse_masked_conv2d_backward_fake)
    register_backward(ns, "sparse_masked_conv2d", _backward, _setup_context)
