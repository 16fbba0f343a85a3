"""corr_lookup: RAFT's correlation lookup, computed on demand without the all-pairs volume.

The op is ``torch.ops.vfi_ops.corr_lookup`` (CPU and CUDA kernels in csrc/);
this module gives it a Python entry point, a fake kernel for torch.compile and
its autograd formula (the hand-written ``vfi_ops::corr_lookup_backward`` op).
"""

import torch
from torch import Tensor

from ._checks import check_like, check_output_mask, check_tensors
from ._library import for_each_library, register_backward


def corr_lookup(fmap1: Tensor, fmap2: Tensor, coords: Tensor, radius: int) -> Tensor:
    r"""Correlations of each pixel's features with ``fmap2``'s around a position:
    RAFT's lookup into one level of its all-pairs volume, without the volume.

    RAFT (Teed & Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical
    Flow", ECCV 2020) builds ``fmap1^T fmap2`` (memory ``(H W)^2``: 4 GB at 1/8 of
    1080p) and samples it around the current flow at every iteration. Bilinear
    sampling is linear, so the sample equals the dot product of ``fmap1`` with
    bilinearly sampled ``fmap2``; this op computes that. With ``n = 2r+1``::

        out[b, (j+r)*n + (i+r), y, x] =
            sum_c fmap1[b, c, y, x] * bilinear(fmap2[b, c], cx + i, cy + j)

    for ``i`` (x offset) and ``j`` (y offset) in ``[-r, r]``, ``(cx, cy) =
    coords[b, :, y, x]``. Bilinear: pixel centres at integers; with
    ``X = floor(cx)``, ``a = cx - X`` (``Y``, ``b`` likewise) sample ``(i, j)``
    blends the taps ``(X+i, Y+j), (X+i+1, Y+j), (X+i, Y+j+1), (X+i+1, Y+j+1)``
    with weights ``(1-a)(1-b), a(1-b), (1-a)b, ab``; a tap outside ``fmap2``
    counts 0 (``grid_sample``'s zeros padding). The fraction is taken once from
    ``coords`` and the offsets are exact integers.

    Channel order: the same as :func:`vfi_ops.correlation` (y offset slow).
    RAFT's ``CorrBlock`` has the x offset slow; its order is
    ``out.view(B, n, n, H, W).transpose(1, 2).reshape(B, n * n, H, W)``.

    Exact positions:

    - ``coords`` on integers: the samples are ``fmap1 . fmap2`` at whole pixels
      (weight 1 on one tap); the coords gradient there is the one-sided
      derivative of the cell to the right / below (as :func:`vfi_ops.backward_warp`),
      a missing tap counting 0; on the last column that is ``-value``;
    - a sample in ``(W2-1, W2)`` blends column ``W2-1`` with 0, one at ``x <= -1`` or
      ``x >= W2`` is 0 (likewise in y); 1 x 1 maps work;
    - a NaN or infinite coordinate, or one so far out that no sample reaches
      ``fmap2``, gives 0 for the whole pixel and no gradient anywhere from it.

    Args:
        fmap1: ``[B, C, H, W]`` float tensor, the first frame's features.
        fmap2: ``[B, C, H2, W2]``, same batch, channels, device and dtype (one
            pyramid level of the second frame's features; ``H2, W2 >= 1``).
        coords: ``[B, 2, H, W]`` positions in ``fmap2``'s pixels (channel 0 x,
            channel 1 y), e.g. ``(base grid + flow) / 2^level``.
        radius: ``r >= 0`` (RAFT: 4).

    Returns:
        ``[B, (2r+1)^2, H, W]`` contiguous tensor of the inputs' dtype; a plain
        sum over the channels (RAFT divides by ``sqrt(C)``: scale ``fmap1``).

    Raises:
        ValueError: shapes that do not match as above, tensors on different
            devices, ``radius < 0`` (or above 16384), an empty ``fmap2``.
        TypeError: a non-float ``fmap1``, another dtype for ``fmap2`` or
            ``coords``, a non-tensor argument; float16/bfloat16 on the CPU.

    Gradients flow to ``fmap1``, ``fmap2`` and ``coords`` (hand-written; RAFT
    detaches ``coords``, other models do not): exact away from integer sample
    positions. Memory: the output, plus on the CPU channels-last copies of the
    feature maps (none if they are channels-last already) and, in the backward,
    one copy of ``fmap2``'s gradient per extra thread (up to 7); nothing of size
    ``(H W)^2``. Determinism: the CPU kernels are deterministic for a given
    number of threads (the ``fmap2`` gradient adds per-thread partial sums: the
    last bits depend on the thread count). On CUDA the ``fmap2`` gradient uses
    atomic adds: under ``torch.use_deterministic_algorithms(True)`` it raises
    PyTorch's nondeterministic-operation error; the rest is deterministic.

    dtypes: float32/float64 on CPU; also float16/bfloat16 on CUDA, summed in
    float. Under ``torch.autocast`` it runs in float32 on CPU and CUDA.

    Example: RAFT's four-level lookup (``CorrBlock(fmap1, fmap2)(coords)``, the
    volume scaled by ``1/sqrt(C)``, pooled over ``fmap2``'s dimensions) equals
    the lookup into average-pooled ``fmap2``, channels transposed::

        >>> import math, torch, torch.nn.functional as F, vfi_ops
        >>> B, C, H, W, r = 1, 16, 16, 24, 4
        >>> fmap1, fmap2 = torch.randn(B, C, H, W), torch.randn(B, C, H, W)
        >>> ys, xs = torch.meshgrid(torch.arange(H * 1.0), torch.arange(W * 1.0), indexing="ij")
        >>> coords = torch.stack((xs, ys))[None] + 3 * torch.randn(B, 2, H, W)
        >>> levels, f2 = [], fmap2
        >>> for level in range(4):
        ...     out = vfi_ops.corr_lookup(fmap1 / math.sqrt(C), f2, coords / 2**level, r)
        ...     n = 2 * r + 1
        ...     levels.append(out.view(B, n, n, H, W).transpose(1, 2).reshape(B, n * n, H, W))
        ...     f2 = F.avg_pool2d(f2, 2, stride=2)
        >>> ours = torch.cat(levels, 1)
        >>> raft = vfi_ops.reference.raft_corr_pyramid(fmap1, fmap2, coords, r)  # CorrBlock's way
        >>> torch.allclose(ours, raft, atol=1e-4)
        True
    """
    check_tensors("corr_lookup", fmap1=fmap1, fmap2=fmap2, coords=coords)
    return torch.ops.vfi_ops.corr_lookup.default(fmap1, fmap2, coords, radius)


def _check_fake_args(fmap1: Tensor, fmap2: Tensor, coords: Tensor, radius: int) -> None:
    # What shape inference under torch.compile needs; the compiled kernels check the rest.
    torch._check_value(
        fmap1.dim() == 4,
        lambda: f"corr_lookup(): expected fmap1 of shape [B, C, H, W] (4-D), but got {tuple(fmap1.shape)}",
    )
    B, C, H, W = fmap1.shape
    check_like("corr_lookup", "fmap2", fmap2, "fmap1", fmap1)
    check_like("corr_lookup", "coords", coords, "fmap1", fmap1)
    torch._check_value(
        fmap2.dim() == 4 and tuple(fmap2.shape[:2]) == (B, C),
        lambda: f"corr_lookup(): expected fmap2 of shape [{B}, {C}, H2, W2], but got {tuple(fmap2.shape)}",
    )
    torch._check_value(
        tuple(coords.shape) == (B, 2, H, W),
        lambda: f"corr_lookup(): expected coords of shape {[B, 2, H, W]}, but got {tuple(coords.shape)}",
    )
    torch._check_value(radius >= 0, lambda: f"corr_lookup(): expected radius >= 0, but got {radius}")


def _corr_lookup_fake(fmap1, fmap2, coords, radius):
    _check_fake_args(fmap1, fmap2, coords, radius)
    B, _, H, W = fmap1.shape
    n = 2 * radius + 1
    return fmap1.new_empty((B, n * n, H, W))


def _corr_lookup_backward_fake(grad_output, fmap1, fmap2, coords, radius, output_mask):
    check_output_mask("corr_lookup_backward", output_mask, 3)
    _check_fake_args(fmap1, fmap2, coords, radius)
    return tuple(
        t.new_empty(t.shape) if needed else t.new_empty((0,)) for t, needed in zip((fmap1, fmap2, coords), output_mask)
    )


def _setup_context(ctx, inputs, output):
    fmap1, fmap2, coords, radius = inputs
    ctx.save_for_backward(fmap1, fmap2, coords)
    ctx.radius = radius


def _backward(ctx, grad_output):
    fmap1, fmap2, coords = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:3])
    grads = ctx.ops.corr_lookup_backward.default(grad_output, fmap1, fmap2, coords, ctx.radius, needs)
    return tuple(g if needed else None for g, needed in zip(grads, needs)) + (None,)


@for_each_library
def _register(ns):
    torch.library.register_fake(f"{ns}::corr_lookup", _corr_lookup_fake)
    torch.library.register_fake(f"{ns}::corr_lookup_backward", _corr_lookup_backward_fake)
    register_backward(ns, "corr_lookup", _backward, _setup_context)
