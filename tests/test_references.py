"""The pure-PyTorch references accept every layout the ops accept (channels-last,
transposed, sliced, expanded), with the same results and gradients as on
contiguous tensors."""

import pytest
import torch

from helpers import smooth_flow
from vfi_ops import reference
from vfi_ops._op_list import OPS

# Kernel and reference tests of every op: run against the oldest torch too (see conftest.py).
pytestmark = pytest.mark.op

B, H, W = 2, 9, 11


def transposed(t):
    """t as the transpose of a tensor with H and W swapped."""
    return t.transpose(2, 3).contiguous().transpose(2, 3)


def sliced(t):
    """t as every other channel and column of a bigger tensor."""
    big = t.new_zeros(t.shape[0], 2 * t.shape[1], t.shape[2], 2 * t.shape[3])
    big[:, ::2, :, ::2] = t
    return big[:, ::2, :, ::2]


def channels_last(t):
    return t.contiguous(memory_format=torch.channels_last)


LAYOUTS = {"transposed": transposed, "sliced": sliced, "channels_last": channels_last}


def cases():
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)
    flow = smooth_flow(B, H, W, 3.0, dtype=torch.float64)
    return {
        "backward_warp": (reference.backward_warp, [rand(B, 3, H, W), flow], {"padding_mode": "border"}),
        "flow_projection": (reference.flow_projection, [flow, rand(B, 1, H, W) + 0.1], {"fill_holes": True}),
        "adaptive_warp": (reference.adaptive_warp, [rand(B, 3, H, W), flow, rand(B, 16, H, W)], {}),
        "softsplat": (reference.softsplat, [rand(B, 3, H, W), flow, -10 * rand(B, 1, H, W)], {"mode": "soft"}),
        "sepconv": (reference.sepconv, [rand(B, 3, H, W), rand(B, 3, H - 2, W - 2), rand(B, 3, H - 2, W - 2)], {}),
        "adacof": (
            reference.adacof,
            [rand(B, 3, H, W), rand(B, 4, H - 2, W - 2), *(4 * rand(2, B, 4, H - 2, W - 2) - 2)],
            {"dilation": 2},
        ),
        "correlation": (
            reference.correlation,
            [rand(B, 4, H, W), rand(B, 4, H, W)],
            {"max_displacement": 2, "stride": 2, "dilation": 2},
        ),
        "corr_lookup": (
            reference.corr_lookup,
            [rand(B, 4, H, W), rand(B, 4, H, W), torch.cat((rand(B, 1, H, W) * W, rand(B, 1, H, W) * H), 1)],
            {"radius": 2},
        ),
        "sparse_masked_conv2d": (
            reference.sparse_masked_conv2d,
            [rand(B, 3, H, W), rand(4, 3, 3, 3), rand(4), rand(B, 1, H, W) < 0.4],
            {"padding": 1, "fill": rand(B, 4, H, W)},
        ),
    }


def grads(fn, args, kwargs):
    args = [a.detach().clone().requires_grad_() if a.is_floating_point() else a for a in args]
    out = fn(*args, **kwargs)
    g = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
    return [out.detach()] + list(torch.autograd.grad(out, [a for a in args if a.requires_grad], g))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_reference_accepts_every_layout(name, layout):
    fn, args, kwargs = cases()[name]
    want = grads(fn, args, kwargs)
    for i in range(len(args)):  # one argument at a time in the layout, then all of them
        for changed in ([i], range(len(args))):
            odd = [LAYOUTS[layout](a) if j in changed and a.dim() == 4 else a for j, a in enumerate(args)]
            got = grads(fn, odd, kwargs)
            for a, b in zip(got, want):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_reference_accepts_expanded_inputs():
    # A flow shared by the whole batch, as a broadcast view.
    fn, (input, flow, kernel), _ = cases()["adaptive_warp"]
    shared = flow[:1].expand(B, 2, H, W)
    torch.testing.assert_close(fn(input, shared, kernel), fn(input, shared.contiguous(), kernel))
    fn, (flow, weight), kwargs = cases()["flow_projection"]
    torch.testing.assert_close(
        fn(flow[:1].expand(B, 2, H, W), weight, **kwargs),
        fn(flow[:1].expand(B, 2, H, W).contiguous(), weight, **kwargs),
    )
