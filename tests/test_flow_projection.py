import sys

import pytest
import torch

import vfi_ops
from vfi_ops import reference
from helpers import DeterministicAlgorithms, assert_all_close, smooth_flow, sprinkle_non_finite, strided

FILL = [False, True]


def run(fn, flow, weight, fill_holes, grad_out):
    """Output and gradients (to flow, and to weight if given) of fn."""
    flow = flow.detach().clone().requires_grad_()
    weight = None if weight is None else weight.detach().clone().requires_grad_()
    out = fn(flow, weight, fill_holes)
    inputs = (flow,) if weight is None else (flow, weight)
    return (out.detach(),) + torch.autograd.grad(out, inputs, grad_out)


def off_integer_landing_flow(B, H, W, dtype=torch.float64, device="cpu", out_fraction=0.25):
    """A flow whose landing positions p + f keep 0.2 px away from integers (where
    the footprint jumps), so finite differences are valid; a fraction lands
    outside the image, clear of its border."""
    def landing(n, shape):
        cell = torch.randint(0, max(n - 1, 1), shape, device=device).to(dtype)
        out = torch.rand(shape, device=device) < out_fraction
        cell = torch.where(out, cell + n + 2, cell)
        return cell + 0.5 + 0.6 * (torch.rand(shape, dtype=dtype, device=device) - 0.5)

    xs = torch.arange(W, dtype=dtype, device=device).view(1, 1, W)
    ys = torch.arange(H, dtype=dtype, device=device).view(1, H, 1)
    return torch.stack((landing(W, (B, H, W)) - xs, landing(H, (B, H, W)) - ys), dim=1)


def random_case(seed):
    """Random sizes, a flow of one of several kinds (small, large, far out,
    non-finite, landing on integers) and a weight or None."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, H, W = r(1, 3), r(1, 13), r(1, 13)
    kind = seed % 5
    flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g)
    flow = flow * [2.0, 0.7 * max(H, W), 1e6, 3.0, 2.0][kind]
    if kind == 3:
        flow = sprinkle_non_finite(flow, 0.2)
    if kind == 4:  # integer landing positions, including the right and bottom edges
        flow = flow.round()
    weight = None if seed % 2 else torch.rand(B, 1, H, W, dtype=torch.float64, generator=g) * 4 + 0.05
    return flow, weight


@pytest.mark.parametrize("fill_holes", FILL)
def test_gradcheck(fill_holes):
    for B, H, W in [(2, 5, 6), (1, 7, 4)]:
        flow = off_integer_landing_flow(B, H, W).requires_grad_()
        weight = (torch.rand(B, 1, H, W, dtype=torch.float64) + 0.2).requires_grad_()
        fn = lambda f, w: vfi_ops.flow_projection(f, w, fill_holes)
        assert torch.autograd.gradcheck(fn, (flow, weight))
        assert torch.autograd.gradcheck(lambda f: vfi_ops.flow_projection(f, None, fill_holes), (flow,))


@pytest.mark.parametrize("fill_holes", FILL)
@pytest.mark.parametrize("case", range(40))
def test_matches_reference_float64(fill_holes, case):
    flow, weight = random_case(case)
    grad_out = torch.randn(flow.shape, dtype=torch.float64)
    ours = run(vfi_ops.flow_projection, flow, weight, fill_holes, grad_out)
    ref = run(reference.flow_projection, flow, weight, fill_holes, grad_out)
    for name, a, b in zip(["output", "grad_flow", "grad_weight"], ours, ref):
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("fill_holes", FILL)
def test_matches_reference_float32(fill_holes):
    flow = smooth_flow(2, 48, 64, 6.0)
    weight = torch.rand(2, 1, 48, 64) + 0.1
    grad_out = torch.randn(2, 2, 48, 64)
    ours = run(vfi_ops.flow_projection, flow, weight, fill_holes, grad_out)
    ref = run(reference.flow_projection, flow.double(), weight.double(), fill_holes, grad_out.double())
    for a, b in zip(ours, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)


def test_edge_repetition_and_weights():
    # H=2, W=3. Source (y=0, x=0) lands exactly on the right edge at (2, 0.5): its
    # footprint is (0,2), (0,2), (1,2), (1,2), each counted twice. Source (y=1, x=0)
    # lands at (1.5, 0.5): (0,1), (0,2), (1,1), (1,2) once. All others land outside.
    flow = torch.full((1, 2, 2, 3), 100.0, dtype=torch.float64)
    flow[0, :, 0, 0] = torch.tensor([2.0, 0.5])
    flow[0, :, 1, 0] = torch.tensor([1.5, -0.5])
    weight = torch.ones(1, 1, 2, 3, dtype=torch.float64)
    weight[0, 0, 1, 0] = 3.0
    out = vfi_ops.flow_projection(flow, weight)
    # column 2: x = -(2*1*2 + 3*1.5) / (2*1 + 3) = -1.7, y = -(2*1*0.5 + 3*-0.5) / 5 = 0.1
    # column 1: only the second source: -(1.5, -0.5); column 0: holes
    want_x = torch.tensor([[0.0, -1.5, -1.7], [0.0, -1.5, -1.7]], dtype=torch.float64)
    want_y = torch.tensor([[0.0, 0.5, 0.1], [0.0, 0.5, 0.1]], dtype=torch.float64)
    torch.testing.assert_close(out[0], torch.stack((want_x, want_y)))
    # Uniform weights: both sources count as 1.
    out = vfi_ops.flow_projection(flow)
    torch.testing.assert_close(out[0, 0, :, 2], torch.full((2,), -(2 * 2.0 + 1.5) / 3, dtype=torch.float64))


def test_hole_filling():
    # 4x4. Source (0,0) lands exactly on the bottom-right corner (3,3): that pixel
    # alone, value -3. Source (1,1) lands on (0,0): the 2x2 block top-left, value 1.
    flow = torch.full((1, 2, 4, 4), 1e6, dtype=torch.float64)
    flow[0, :, 0, 0] = 3.0
    flow[0, :, 1, 1] = -1.0
    plain = vfi_ops.flow_projection(flow)
    want_plain = torch.zeros(4, 4, dtype=torch.float64)
    want_plain[:2, :2] = 1.0
    want_plain[3, 3] = -3.0
    # Each hole: the mean over the rays (left, right, up, down) that find a non-hole.
    want_filled = torch.tensor(
        [[1, 1, 1, -1],  # (0,3): left 1, down -3
         [1, 1, 1, -1],
         [1, 1, 0, -3],  # (2,2): no ray finds anything
         [-1, -1, -3, -3]],  # (3,0): up 1, right -3
        dtype=torch.float64,
    )
    filled = vfi_ops.flow_projection(flow, fill_holes=True)
    for c in range(2):
        torch.testing.assert_close(plain[0, c], want_plain)
        torch.testing.assert_close(filled[0, c], want_filled)


def test_hole_filling_gradient_reaches_averaged_pixels():
    # Same scene: the gradient of output (2,3) (a hole filled from (3,3) alone) must
    # reach the source that landed on (3,3), i.e. pixel (0,0); with fill_holes=False
    # it reaches nothing.
    flow = torch.full((1, 2, 4, 4), 1e6, dtype=torch.float64)
    flow[0, :, 0, 0] = 3.0
    flow[0, :, 1, 1] = -1.0
    weight = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    g = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    g[0, 0, 2, 3] = 1.0
    _, gf, gw = run(vfi_ops.flow_projection, flow, weight, True, g)
    # O(3,3)_x = -w f_x / w = -f_x: d/df_x = -1; d/dw = -(f_x + O_x) / w = 0
    assert gf[0, 0, 0, 0] == -1.0 and gf[0, 1, 0, 0] == 0.0
    assert torch.count_nonzero(gf) == 1 and torch.count_nonzero(gw) == 0
    _, gf, gw = run(vfi_ops.flow_projection, flow, weight, False, g)
    assert torch.count_nonzero(gf) == 0 and torch.count_nonzero(gw) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_out_of_range_drop(dtype):
    # One row of 3: landing at -tiny and at 2 + tiny is outside, exactly 2 is inside.
    tiny = 1e-6 if dtype == torch.float32 else 1e-12
    flow = torch.tensor([[[[-tiny, 1.0, tiny]], [[0.0, 0.0, 0.0]]]], dtype=dtype)
    out = vfi_ops.flow_projection(flow)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.0, -1.0], dtype=dtype))
    filled = vfi_ops.flow_projection(flow, fill_holes=True)
    torch.testing.assert_close(filled[0, 0, 0], torch.tensor([-1.0, -1.0, -1.0], dtype=dtype))
    assert (out[0, 1] == 0).all() and (filled[0, 1] == 0).all()
    _, den = torch.ops.vfi_ops.flow_projection(flow)
    torch.testing.assert_close(den[0, 0, 0], torch.tensor([0.0, 0.0, 4.0], dtype=dtype))
    flow[0, 0, 0, 0] = 0.0  # now (0, 0) lands on itself: (0,0) and (0,1), each twice (H = 1)
    out, den = torch.ops.vfi_ops.flow_projection(flow)
    torch.testing.assert_close(den[0, 0, 0], torch.tensor([2.0, 2.0, 4.0], dtype=dtype))
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.0, -1.0], dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fill_holes", FILL)
def test_non_finite_flows_are_dropped(dtype, fill_holes):
    flow = sprinkle_non_finite(smooth_flow(2, 24, 30, 4.0, dtype=dtype), 0.3)
    dropped = ~torch.isfinite(flow).all(dim=1, keepdim=True) | (flow.abs() > 1e3).any(dim=1, keepdim=True)
    weight = torch.rand(2, 1, 24, 30, dtype=dtype) + 0.1
    out, gf, gw = run(vfi_ops.flow_projection, flow, weight, fill_holes, torch.randn(2, 2, 24, 30, dtype=dtype))
    assert torch.isfinite(out).all() and torch.isfinite(gf).all() and torch.isfinite(gw).all()
    assert (gf.masked_select(dropped.expand_as(gf)) == 0).all() and (gw.masked_select(dropped) == 0).all()
    # Dropping is the same as sending those pixels far away.
    clean = torch.where(dropped, torch.full_like(flow, 1e6), flow)
    torch.testing.assert_close(out, vfi_ops.flow_projection(clean, weight, fill_holes))


@pytest.mark.parametrize("fill_holes", FILL)
def test_non_positive_weights_drop_their_source(fill_holes):
    flow = smooth_flow(1, 20, 20, 3.0, dtype=torch.float64)
    weight = torch.rand(1, 1, 20, 20, dtype=torch.float64) + 0.1
    bad = torch.rand(1, 1, 20, 20) < 0.3
    specials = torch.tensor([0.0, -1.0, -1e-30, float("nan"), float("inf"), -float("inf")], dtype=torch.float64)
    weight = torch.where(bad, specials[torch.randint(0, len(specials), (1, 1, 20, 20))], weight)
    # Weights with opposite signs could cancel in sum(w); dropping keeps the result finite.
    out, gf, gw = run(vfi_ops.flow_projection, flow, weight, fill_holes, torch.randn(1, 2, 20, 20, dtype=torch.float64))
    assert torch.isfinite(out).all() and torch.isfinite(gf).all() and torch.isfinite(gw).all()
    assert (gw.masked_select(bad) == 0).all()
    moved = torch.where(bad, torch.full_like(flow, 1e6), flow)
    torch.testing.assert_close(out, vfi_ops.flow_projection(moved, torch.where(bad, 1.0, weight), fill_holes))


def test_mostly_holes_matches_reference():
    # Almost nothing lands: the fill scans stay linear and still agree.
    flow = torch.full((1, 2, 96, 128), 1e5, dtype=torch.float64)
    flow[0, :, 5, 7] = torch.tensor([40.5, 60.25], dtype=torch.float64)
    flow[0, :, 90, 3] = torch.tensor([0.0, -80.0], dtype=torch.float64)
    for weight in (None, torch.rand(1, 1, 96, 128, dtype=torch.float64) + 0.5):
        out = vfi_ops.flow_projection(flow, weight, fill_holes=True)
        torch.testing.assert_close(out, reference.flow_projection(flow, weight, fill_holes=True))
        assert (out != 0).float().mean() > 0.05  # the fill spread the few values along rows and columns


@pytest.mark.parametrize("shape", [(0, 2, 4, 5), (2, 2, 0, 5), (2, 2, 4, 0)])
@pytest.mark.parametrize("fill_holes", FILL)
def test_empty(shape, fill_holes):
    flow = torch.randn(shape, requires_grad=True)
    weight = torch.rand(shape[0], 1, shape[2], shape[3], requires_grad=True)
    out = vfi_ops.flow_projection(flow, weight, fill_holes)
    assert out.shape == shape
    out.sum().backward()
    assert flow.grad.shape == shape and weight.grad.shape == weight.shape


@pytest.mark.parametrize("fill_holes", FILL)
def test_layouts(fill_holes):
    flow = smooth_flow(2, 16, 20, 4.0, dtype=torch.float64)
    weight = torch.rand(2, 1, 16, 20, dtype=torch.float64) + 0.1
    grad_out = torch.randn(2, 2, 16, 20, dtype=torch.float64)
    want = run(vfi_ops.flow_projection, flow, weight, fill_holes, grad_out)
    variants = [
        (flow.contiguous(memory_format=torch.channels_last), weight.contiguous(memory_format=torch.channels_last), grad_out),
        (strided(flow), strided(weight), strided(grad_out)),
        (flow.transpose(2, 3).contiguous().transpose(2, 3), weight.transpose(2, 3).contiguous().transpose(2, 3),
         grad_out.transpose(2, 3).contiguous().transpose(2, 3)),
        (flow, weight, grad_out[:1].expand(2, 2, 16, 20)),
    ]
    for i, (f, w, g) in enumerate(variants):
        expected = want if i < 3 else run(vfi_ops.flow_projection, flow, weight, fill_holes, g.contiguous())
        assert_all_close(run(vfi_ops.flow_projection, f, w, fill_holes, g), expected, rtol=0, atol=0)


def test_only_requested_gradients():
    flow = smooth_flow(1, 8, 9, 2.0, dtype=torch.float64)
    weight = torch.rand(1, 1, 8, 9, dtype=torch.float64) + 0.1
    out, den = torch.ops.vfi_ops.flow_projection(flow, weight, True)
    g = torch.randn(1, 2, 8, 9, dtype=torch.float64)
    backward = torch.ops.vfi_ops.flow_projection_backward
    gf_both, gw_both = backward(g, flow, weight, out, den, True, [True, True])
    gf, gw = backward(g, flow, weight, out, den, True, [True, False])
    assert gw.numel() == 0 and torch.equal(gf, gf_both)
    gf, gw = backward(g, flow, weight, out, den, True, [False, True])
    assert gf.numel() == 0 and torch.equal(gw, gw_both)
    gf, gw = backward(g, flow, None, out, den, True, [True, True])  # no weight, no weight gradient
    assert gw.numel() == 0
    # Through autograd: a weight-only graph gets only the weight gradient.
    w = weight.clone().requires_grad_()
    (vfi_ops.flow_projection(flow, w, True) * g).sum().backward()
    torch.testing.assert_close(w.grad, gw_both)


def test_den_output():
    flow = smooth_flow(2, 10, 12, 3.0, dtype=torch.float64)
    weight = torch.rand(2, 1, 10, 12, dtype=torch.float64) + 0.1
    out, den = torch.ops.vfi_ops.flow_projection(flow, weight)
    assert den.shape == (2, 1, 10, 12) and den.dtype == flow.dtype and (den >= 0).all()
    # Every source that lands contributes 4 times its weight.
    qx = flow[:, :1] + torch.arange(12, dtype=flow.dtype)
    qy = flow[:, 1:] + torch.arange(10, dtype=flow.dtype).view(10, 1)
    lands = (qx >= 0) & (qx <= 11) & (qy >= 0) & (qy <= 9)
    assert 0 < lands.sum() < lands.numel()
    torch.testing.assert_close(den.sum(), 4 * weight[lands].sum())
    assert (out.masked_select((den == 0).expand_as(out)) == 0).all()


def test_double_backward_raises():
    flow = smooth_flow(1, 6, 6, 2.0, dtype=torch.float64).requires_grad_()
    (gf,) = torch.autograd.grad(vfi_ops.flow_projection(flow).square().sum(), flow, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gf.sum().backward()


def test_module():
    proj = vfi_ops.nn.FlowProjection(fill_holes=True)
    assert "fill_holes=True" in repr(proj)
    flow, weight = smooth_flow(1, 12, 12, 3.0), torch.rand(1, 1, 12, 12) + 0.1
    torch.testing.assert_close(proj(flow, weight), vfi_ops.flow_projection(flow, weight, True))
    torch.testing.assert_close(proj(flow), vfi_ops.flow_projection(flow, None, True))
    for not_a_bool in ("False", 0, None):  # bool("False") is True
        with pytest.raises(TypeError, match="FlowProjection: expected fill_holes to be a bool"):
            vfi_ops.nn.FlowProjection(not_a_bool)


@pytest.mark.parametrize("fill_holes", FILL)
def test_opcheck(fill_holes):
    flow = off_integer_landing_flow(2, 5, 6).requires_grad_()
    weight = (torch.rand(2, 1, 5, 6, dtype=torch.float64) + 0.1).requires_grad_()
    for w in (weight, None):
        torch.library.opcheck(torch.ops.vfi_ops.flow_projection.default, (flow, w, fill_holes))
    out, den = torch.ops.vfi_ops.flow_projection(flow.detach(), weight.detach(), fill_holes)
    g = torch.randn(2, 2, 5, 6, dtype=torch.float64)
    for mask in ([True, True], [True, False], [False, True]):
        torch.library.opcheck(torch.ops.vfi_ops.flow_projection_backward.default,
                              (g, flow.detach(), weight.detach(), out, den, fill_holes, mask))


def test_torch_compile_fullgraph():
    def loss_fn(flow, weight, frame):
        projected = vfi_ops.flow_projection(0.5 * flow, 1 / weight + 1e-6, fill_holes=True)
        return vfi_ops.backward_warp(frame, projected, "border").square().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    flow = smooth_flow(2, 16, 16, 3.0).requires_grad_()
    depth = (torch.rand(2, 1, 16, 16) + 1).requires_grad_()
    frame = torch.randn(2, 3, 16, 16)
    loss = compiled(flow, depth, frame)
    grads = torch.autograd.grad(loss, (flow, depth))
    loss_ref = loss_fn(flow, depth, frame)
    grads_ref = torch.autograd.grad(loss_ref, (flow, depth))
    torch.testing.assert_close(loss, loss_ref)
    assert_all_close(grads, grads_ref)


BAD_INPUTS = [
    # (flow, weight, exception, message fragment)
    (torch.randn(2, 8, 8), None, ValueError, r"flow of shape \[B, 2, H, W\]"),
    (torch.randn(1, 3, 8, 8), None, ValueError, r"flow of shape \[B, 2, H, W\]"),
    (torch.randint(0, 5, (1, 2, 8, 8)), None, TypeError, r"flow to be a floating-point"),
    (torch.randn(1, 2, 8, 8).half(), None, TypeError, r"CPU kernels support float32 and float64"),
    (torch.randn(1, 2, 8, 8), torch.rand(1, 8, 8), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
    (torch.randn(1, 2, 8, 8), torch.rand(1, 2, 8, 8), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
    (torch.randn(2, 2, 8, 8), torch.rand(1, 1, 8, 8), ValueError, r"weight of shape \[2, 1, 8, 8\]"),
    (torch.randn(1, 2, 8, 8), torch.rand(1, 1, 8, 7), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
    (torch.randn(1, 2, 8, 8), torch.rand(1, 1, 8, 8, dtype=torch.float64), TypeError, r"weight to have the dtype of flow"),
    (torch.randn(1, 2, 8, 8), torch.rand(1, 1, 8, 8, device="meta"), ValueError, r"weight on the same device as flow"),
]


@pytest.mark.parametrize("flow,weight,exc,match", BAD_INPUTS)
def test_bad_inputs(flow, weight, exc, match):
    with pytest.raises(exc, match=match):
        vfi_ops.flow_projection(flow, weight)


def test_bad_backward_inputs():
    flow = torch.randn(1, 2, 6, 6)
    out, den = torch.ops.vfi_ops.flow_projection(flow)
    backward = torch.ops.vfi_ops.flow_projection_backward
    with pytest.raises(ValueError, match=r"grad_output of shape \[1, 2, 6, 6\]"):
        backward(torch.randn(1, 2, 6, 5), flow, None, out, den, False, [True, False])
    with pytest.raises(ValueError, match=r"expected den of shape \[1, 1, 6, 6\]"):
        backward(torch.randn(1, 2, 6, 6), flow, None, out, den[..., :5], False, [True, False])
    with pytest.raises(TypeError, match=r"expected den of dtype Float"):
        backward(torch.randn(1, 2, 6, 6), flow, None, out, den.double(), False, [True, False])


def test_deterministic_fallback_computes_the_same():
    # On CUDA under deterministic mode the function switches to this fallback
    # (the reference, in float for float16/bfloat16); it runs on CPU tensors too.
    fallback = sys.modules["vfi_ops.flow_projection"]._deterministic_fallback
    flow = smooth_flow(2, 20, 24, 4.0, dtype=torch.float64)
    weight = torch.rand(2, 1, 20, 24, dtype=torch.float64) + 0.1
    g = torch.randn(2, 2, 20, 24, dtype=torch.float64)
    assert_all_close(run(fallback, flow, weight, True, g), run(vfi_ops.flow_projection, flow, weight, True, g),
                     rtol=1e-9, atol=1e-9)
    half = fallback(flow.half(), weight.half(), True)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.double(), vfi_ops.flow_projection(flow.half().double(), weight.half().double(), True),
                               rtol=2e-3, atol=2e-3)
    with pytest.raises(ValueError, match=r"weight of shape \[2, 1, 20, 24\]"):
        fallback(flow, weight[:1], True)


@pytest.mark.parametrize("shape", [(1, 2, 40, 50), (3, 2, 12, 10)])
@pytest.mark.parametrize("fill_holes", FILL)
def test_same_result_for_any_thread_count(shape, fill_holes):
    # The splat is split by target rows among the threads; each pixel sums its
    # contributions in source order whatever the split, so results are bitwise equal.
    flow = smooth_flow(shape[0], shape[2], shape[3], 6.0)
    weight = torch.rand(shape[0], 1, shape[2], shape[3]) + 0.1
    g = torch.randn(shape)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(run(vfi_ops.flow_projection, flow, weight, fill_holes, g))
    finally:
        torch.set_num_threads(previous)
    for result in results[1:]:
        for a, b in zip(result, results[0]):
            assert torch.equal(a, b)


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("fill_holes", FILL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(fill_holes, dtype):
    for case in range(15):
        flow, weight = random_case(case)
        flow = flow.to(dtype)
        weight = None if weight is None else weight.to(dtype)
        grad_out = torch.randn(flow.shape, dtype=dtype)
        cpu = run(vfi_ops.flow_projection, flow, weight, fill_holes, grad_out)
        cuda = run(vfi_ops.flow_projection, flow.cuda(), None if weight is None else weight.cuda(), fill_holes,
                   grad_out.cuda())
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        assert_all_close(cuda, cpu, rtol=tol, atol=tol)


@pytest.mark.cuda
@pytest.mark.parametrize("fill_holes", FILL)
def test_cuda_gradcheck(fill_holes):
    flow = off_integer_landing_flow(2, 5, 6, device="cuda").requires_grad_()
    weight = (torch.rand(2, 1, 5, 6, dtype=torch.float64, device="cuda") + 0.2).requires_grad_()
    assert torch.autograd.gradcheck(lambda f, w: vfi_ops.flow_projection(f, w, fill_holes), (flow, weight))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision(dtype):
    # Landing positions are rounded to `dtype` too, so compare with the float32 op
    # run on the rounded inputs.
    flow = smooth_flow(2, 30, 36, 4.0, device="cuda").to(dtype)
    weight = (torch.rand(2, 1, 30, 36, device="cuda") + 0.5).to(dtype)
    grad_out = torch.randn(2, 2, 30, 36, device="cuda").to(dtype)
    want = run(vfi_ops.flow_projection, flow.float(), weight.float(), True, grad_out.float())
    got = run(vfi_ops.flow_projection, flow, weight, True, grad_out)
    for a, b in zip(want, got):
        assert b.dtype == dtype
        torch.testing.assert_close(b.float(), a, rtol=0.02, atol=0.02 * a.abs().max().item())


@pytest.mark.cuda
def test_cuda_deterministic_mode():
    flow = smooth_flow(1, 40, 50, 5.0, device="cuda")
    weight = torch.rand(1, 1, 40, 50, device="cuda") + 0.1
    with DeterministicAlgorithms():
        # The raw op accumulates with atomics and says so...
        with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
            torch.ops.vfi_ops.flow_projection(flow, weight, True)
        # ...the function switches to the deterministic reference.
        first = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
        second = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    fast = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
    assert_all_close(first, fast, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
def test_cuda_device_mismatch():
    with pytest.raises(ValueError, match="weight on the same device as flow"):
        vfi_ops.flow_projection(torch.randn(1, 2, 8, 8, device="cuda"), torch.rand(1, 1, 8, 8))


@pytest.mark.cuda
def test_cuda_opcheck_and_compile():
    flow = off_integer_landing_flow(2, 5, 6, device="cuda").requires_grad_()
    weight = (torch.rand(2, 1, 5, 6, dtype=torch.float64, device="cuda") + 0.1).requires_grad_()
    # The forward's atomics make repeated runs differ in the last bits; opcheck
    # compares runs, so it gets the backward-only (deterministic) check here.
    out, den = torch.ops.vfi_ops.flow_projection(flow.detach(), weight.detach(), True)
    g = torch.randn_like(out)
    torch.library.opcheck(torch.ops.vfi_ops.flow_projection_backward.default,
                          (g, flow.detach(), weight.detach(), out, den, True, [True, True]))
    compiled = torch.compile(lambda f, w: vfi_ops.flow_projection(f, w, True).square().sum(), fullgraph=True)
    grads = torch.autograd.grad(compiled(flow, weight), (flow, weight))
    grads_ref = torch.autograd.grad(vfi_ops.flow_projection(flow, weight, True).square().sum(), (flow, weight))
    assert_all_close(grads, grads_ref)


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_64bit_indexing():
    # A flow of more than 2^30 elements takes the 64-bit index path. Everything lands
    # outside except a few pixels near the far corner.
    h = w = 23200
    if torch.cuda.get_device_properties(0).total_memory < 24 * 2**30:
        pytest.skip("needs 24 GiB of GPU memory")
    flow = torch.full((1, 2, h, w), 1e7, device="cuda")
    local = torch.tensor([[0.25, 0.5], [1.5, -0.75]], device="cuda")
    flow[0, :, h - 3, w - 3] = local[0]
    flow[0, :, h - 2, w - 3] = local[1]
    out = vfi_ops.flow_projection(flow)
    small = torch.full((1, 2, 3, 3), 1e7, device="cuda")
    small[0, :, 0, 0] = local[0]
    small[0, :, 1, 0] = local[1]
    torch.testing.assert_close(out[..., -3:, -3:], vfi_ops.flow_projection(small))
    assert torch.count_nonzero(out[..., :-3, :]) == 0
    del flow, out
