import pytest
import torch

import vfi_ops
from vfi_ops import reference
from helpers import DeterministicAlgorithms, assert_all_close, off_integer_flow, smooth_flow, sprinkle_non_finite

MODES = ["zeros", "border"]


def grads(fn, input, flow, grad_out, padding_mode):
    input = input.detach().clone().requires_grad_()
    flow = flow.detach().clone().requires_grad_()
    out = fn(input, flow, padding_mode)
    gi, gf = torch.autograd.grad(out, (input, flow), grad_out)
    return out.detach(), gi, gf


def random_case(rng_case):
    """Random sizes and a flow of one of several kinds (small, large, far out, non-finite)."""
    g = torch.Generator().manual_seed(rng_case)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W = r(1, 3), r(1, 5), r(1, 12), r(1, 12)
    # grid_sample (the reference) needs inputs of at least 2x2 pixels
    h_in, w_in = (max(H, 2), max(W, 2)) if rng_case % 3 == 0 else (r(2, 12), r(2, 12))
    kind = rng_case % 4
    flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g)
    flow = flow * [2.0, 2.0 * max(h_in, w_in), 1e6, 3.0][kind]
    if kind == 3:
        flow = sprinkle_non_finite(flow, 0.2)
    input = torch.randn(B, C, h_in, w_in, dtype=torch.float64, generator=g)
    return input, flow


@pytest.mark.parametrize("padding_mode", MODES)
def test_gradcheck(padding_mode):
    for B, C, H, W, h_in, w_in in [(2, 3, 5, 6, 5, 6), (1, 2, 4, 7, 6, 3)]:
        input = torch.randn(B, C, h_in, w_in, dtype=torch.float64, requires_grad=True)
        flow = off_integer_flow(B, H, W, h_in, w_in).requires_grad_()
        assert torch.autograd.gradcheck(lambda i, f: vfi_ops.backward_warp(i, f, padding_mode), (input, flow))


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("case", range(40))
def test_matches_grid_sample_float64(padding_mode, case):
    input, flow = random_case(case)
    grad_out = torch.randn(input.shape[0], input.shape[1], flow.shape[2], flow.shape[3], dtype=torch.float64)
    out, gi, gf = grads(vfi_ops.backward_warp, input, flow, grad_out, padding_mode)
    for name, t in [("output", out), ("grad_input", gi), ("grad_flow", gf)]:
        assert torch.isfinite(t).all(), name
    ref = grads(reference.backward_warp, input, flow, grad_out, padding_mode)
    for name, a, b in zip(["output", "grad_input", "grad_flow"], (out, gi, gf), ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"{name}: {m}")
    nan = torch.isnan(flow).any(dim=1, keepdim=True)
    assert (gf.masked_select(nan.expand_as(gf)) == 0).all()  # a NaN sample has no gradient


def test_plain_grid_sample_path_agrees_on_finite_flows():
    # The benchmarks time reference.grid_sample_warp; it must compute the same thing.
    input = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    flow = smooth_flow(2, 7, 8, 6.0, dtype=torch.float64)
    for mode in MODES:
        torch.testing.assert_close(reference.grid_sample_warp(input, flow, mode), vfi_ops.backward_warp(input, flow, mode))


@pytest.mark.parametrize("padding_mode", MODES)
def test_matches_grid_sample_float32(padding_mode):
    input = torch.randn(2, 4, 40, 56)
    flow = smooth_flow(2, 32, 48, 8.0)
    grad_out = torch.randn(2, 4, 32, 48)
    ours = grads(vfi_ops.backward_warp, input, flow, grad_out, padding_mode)
    ref = grads(reference.backward_warp, input, flow, grad_out, padding_mode)
    assert_all_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_hand_computed():
    # 2x2 input; each output pixel samples a known position.
    input = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    flow = torch.zeros(1, 2, 1, 3, dtype=torch.float64)
    flow[0, :, 0, 0] = torch.tensor([0.5, 0.5])    # centre of the 4 pixels -> 2.5
    flow[0, :, 0, 1] = torch.tensor([-0.75, 0.0])  # x = 0.25 -> 1.25
    flow[0, :, 0, 2] = torch.tensor([-1.5, 1.0])   # x = 0.5, y = 1 -> 3.5
    out = vfi_ops.backward_warp(input, flow)
    torch.testing.assert_close(out, torch.tensor([[[[2.5, 1.25, 3.5]]]], dtype=torch.float64))
    # Half a pixel beyond the right edge: "zeros" blends with 0, "border" clamps.
    flow = torch.tensor([[[[1.5]], [[0.0]]]], dtype=torch.float64)
    assert vfi_ops.backward_warp(input, flow, "zeros").item() == pytest.approx(1.0)
    assert vfi_ops.backward_warp(input, flow, "border").item() == pytest.approx(2.0)


def test_one_pixel_wide_input():
    # grid_sample cannot express this case; bilinear weights can.
    input = torch.tensor([[[[5.0], [7.0]]]], dtype=torch.float64)  # 2 x 1
    flow = torch.tensor([[[[-0.25, 0.5]], [[0.5, 0.0]]]], dtype=torch.float64)  # 1 x 2 output
    out = vfi_ops.backward_warp(input, flow)
    # (x, y) = (-0.25, 0.5): 0.75 * mean(5, 7); (1.5, 0.0): outside -> 0
    torch.testing.assert_close(out, torch.tensor([[[[0.75 * 6.0, 0.0]]]], dtype=torch.float64))
    assert vfi_ops.backward_warp(input, flow, "border")[0, 0, 0].tolist() == pytest.approx([6.0, 5.0])


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_and_huge_flows(padding_mode, dtype):
    input = torch.randn(2, 3, 16, 16, dtype=dtype)
    flow = sprinkle_non_finite(smooth_flow(2, 16, 16, 4.0, dtype=dtype), 0.3)
    grad_out = torch.randn(2, 3, 16, 16, dtype=dtype)
    out, gi, gf = grads(vfi_ops.backward_warp, input, flow, grad_out, padding_mode)
    assert torch.isfinite(out).all() and torch.isfinite(gi).all() and torch.isfinite(gf).all()
    nan = torch.isnan(flow).any(dim=1, keepdim=True)
    assert (out.masked_select(nan.expand_as(out)) == 0).all()  # NaN samples nothing
    assert (gf.masked_select(nan.expand_as(gf)) == 0).all()
    ref = reference.backward_warp(input, flow, padding_mode)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_every_tap_stays_inside():
    # Flows aimed just outside each edge: any out-of-bounds read would pull in
    # values from the neighbouring planes (all 100) instead of the plane's own (1).
    input = torch.full((2, 3, 5, 7), 100.0, dtype=torch.float64)
    input[:, 1] = 1.0
    eps = 1e-9
    targets = [(-1 + eps, 2.0), (6 + 1 - eps, 2.0), (3.0, -1 + eps), (3.0, 5 - eps), (-0.5, -0.5), (6.5, 4.5)]
    flow = torch.zeros(2, 2, 1, len(targets), dtype=torch.float64)
    for i, (x, y) in enumerate(targets):
        flow[:, 0, 0, i], flow[:, 1, 0, i] = x - i, y
    out = vfi_ops.backward_warp(input, flow)
    assert (out[:, 1] <= 1.0 + 1e-12).all() and (out[:, 1] >= 0).all()
    gi, _ = torch.ops.vfi_ops.backward_warp_backward(torch.ones_like(out), input, flow, "zeros", [True, False])
    assert gi.sum() <= out.numel() + 1e-9  # no weight went astray


@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)])
def test_empty(shape):
    B, C, H, W = shape
    input = torch.randn(B, C, 6, 6, requires_grad=True)
    flow = torch.randn(B, 2, H, W, requires_grad=True)
    out = vfi_ops.backward_warp(input, flow)
    assert out.shape == (B, C, H, W)
    out.sum().backward()
    assert input.grad.shape == input.shape and (input.grad == 0).all()
    assert flow.grad.shape == flow.shape and (flow.grad == 0).all()


@pytest.mark.parametrize("padding_mode", MODES)
def test_layouts(padding_mode):
    input = torch.randn(2, 5, 12, 10, dtype=torch.float64)
    flow = smooth_flow(2, 9, 11, 3.0, dtype=torch.float64)
    grad_out = torch.randn(2, 5, 9, 11, dtype=torch.float64)
    expected = grads(vfi_ops.backward_warp, input, flow, grad_out, padding_mode)
    variants = {
        "channels_last": (input.contiguous(memory_format=torch.channels_last),
                          flow.contiguous(memory_format=torch.channels_last), grad_out),
        "sliced": (torch.randn(2, 10, 12, 20, dtype=torch.float64)[:, ::2, :, ::2].copy_(input),
                   torch.randn(2, 4, 9, 11, dtype=torch.float64)[:, 1:3].copy_(flow),
                   torch.randn(2, 5, 11, 9, dtype=torch.float64).transpose(2, 3).copy_(grad_out)),
        "expanded_grad": (input, flow, torch.ones(1, 1, 1, 1, dtype=torch.float64).expand_as(grad_out)),
    }
    for name, (i, f, g) in variants.items():
        assert not (i.is_contiguous() and f.is_contiguous() and g.is_contiguous()), name
        got = grads(vfi_ops.backward_warp, i, f, g, padding_mode)
        want = expected if name != "expanded_grad" else grads(vfi_ops.backward_warp, input, flow, g.contiguous(), padding_mode)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"{name}: {m}")


def test_input_size_differs_from_flow():
    # A 2x upsampled warp of a small input: compare with the reference.
    input = torch.randn(1, 3, 8, 10, dtype=torch.float64)
    flow = smooth_flow(1, 16, 20, 2.0, dtype=torch.float64)
    torch.testing.assert_close(vfi_ops.backward_warp(input, flow), reference.backward_warp(input, flow))


def test_only_requested_gradients():
    input = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    flow = smooth_flow(1, 6, 6, 2.0, dtype=torch.float64)
    g = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    gi_both, gf_both = torch.ops.vfi_ops.backward_warp_backward(g, input, flow, "zeros", [True, True])
    gi, gf = torch.ops.vfi_ops.backward_warp_backward(g, input, flow, "zeros", [True, False])
    assert gf.numel() == 0 and torch.equal(gi, gi_both)
    gi, gf = torch.ops.vfi_ops.backward_warp_backward(g, input, flow, "zeros", [False, True])
    assert gi.numel() == 0 and torch.equal(gf, gf_both)
    # Through autograd: a flow-only graph gets only the flow gradient.
    f = flow.clone().requires_grad_()
    (vfi_ops.backward_warp(input, f) * g).sum().backward()
    torch.testing.assert_close(f.grad, gf_both)


def test_double_backward_raises():
    input = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    flow = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    out = vfi_ops.backward_warp(input, flow)
    (gf,) = torch.autograd.grad(out.sum(), flow, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gf.sum().backward()


def test_deterministic_mode_cpu():
    input = torch.randn(2, 3, 20, 20, requires_grad=True)
    flow = smooth_flow(2, 20, 20, 5.0).requires_grad_()
    results = []
    with DeterministicAlgorithms():
        for _ in range(2):
            out = vfi_ops.backward_warp(input, flow)
            results.append((out,) + torch.autograd.grad(out.square().sum(), (input, flow)))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_module():
    warp = vfi_ops.nn.BackwardWarp("border")
    assert "border" in repr(warp)
    input, flow = torch.randn(1, 3, 8, 8), smooth_flow(1, 8, 8, 3.0)
    torch.testing.assert_close(warp(input, flow), vfi_ops.backward_warp(input, flow, "border"))
    with pytest.raises(ValueError, match="padding_mode"):
        vfi_ops.nn.BackwardWarp("reflection")


@pytest.mark.parametrize("padding_mode", MODES)
def test_opcheck(padding_mode):
    input = torch.randn(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    flow = off_integer_flow(2, 5, 6, 7, 9).requires_grad_()
    torch.library.opcheck(torch.ops.vfi_ops.backward_warp.default, (input, flow, padding_mode))
    g = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    for mask in ([True, True], [True, False], [False, True]):
        torch.library.opcheck(torch.ops.vfi_ops.backward_warp_backward.default,
                              (g, input.detach(), flow.detach(), padding_mode, mask))


def test_torch_compile_fullgraph():
    def loss_fn(input, flow, target):
        return (vfi_ops.backward_warp(input, flow, "border") - target).abs().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    input = torch.randn(2, 3, 16, 16, requires_grad=True)
    flow = smooth_flow(2, 16, 16, 3.0).requires_grad_()
    target = torch.randn(2, 3, 16, 16)
    loss = compiled(input, flow, target)
    gi, gf = torch.autograd.grad(loss, (input, flow))
    loss_ref = loss_fn(input, flow, target)
    gi_ref, gf_ref = torch.autograd.grad(loss_ref, (input, flow))
    torch.testing.assert_close(loss, loss_ref)
    torch.testing.assert_close(gi, gi_ref)
    torch.testing.assert_close(gf, gf_ref)


BAD_INPUTS = [
    # (input, flow, padding_mode, exception, message fragment)
    (torch.randn(3, 8, 8), torch.randn(1, 2, 8, 8), "zeros", ValueError, r"input of shape \[B, C, Hin, Win\]"),
    (torch.randn(1, 3, 8, 8), torch.randn(2, 8, 8), "zeros", ValueError, r"flow of shape \[B, 2, H, W\]"),
    (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), "zeros", ValueError, r"flow of shape \[B, 2, H, W\] with B = 1"),
    (torch.randn(2, 3, 8, 8), torch.randn(1, 2, 8, 8), "zeros", ValueError, r"batch size of input"),
    (torch.randn(1, 3, 8, 8), torch.randn(1, 2, 8, 8, dtype=torch.float64), "zeros", TypeError, r"flow to have the dtype of input"),
    (torch.randint(0, 5, (1, 3, 8, 8)), torch.randn(1, 2, 8, 8), "zeros", TypeError, r"input to be a floating-point"),
    (torch.randn(1, 3, 8, 8), torch.randint(0, 5, (1, 2, 8, 8)), "zeros", TypeError, r"flow to have the dtype of input"),
    (torch.randn(1, 3, 8, 8).half(), torch.randn(1, 2, 8, 8).half(), "zeros", TypeError, r"CPU kernels support float32 and float64"),
    (torch.randn(1, 3, 8, 8), torch.randn(1, 2, 8, 8), "reflection", ValueError, r"padding_mode must be 'zeros' or 'border'"),
    (torch.randn(1, 3, 0, 8), torch.randn(1, 2, 8, 8), "zeros", ValueError, r"non-empty spatial size"),
    (torch.randn(1, 3, 8, 8), torch.randn(1, 2, 8, 8, device="meta"), "zeros", ValueError, r"flow on the same device as input"),
]


@pytest.mark.parametrize("input,flow,padding_mode,exc,match", BAD_INPUTS)
def test_bad_inputs(input, flow, padding_mode, exc, match):
    with pytest.raises(exc, match=match):
        vfi_ops.backward_warp(input, flow, padding_mode)


def test_bad_grad_output():
    input, flow = torch.randn(1, 3, 8, 8), torch.randn(1, 2, 6, 6)
    with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 6, 6\]"):
        torch.ops.vfi_ops.backward_warp_backward(torch.randn(1, 3, 8, 8), input, flow, "zeros", [True, True])


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(padding_mode, dtype):
    for case in range(12):
        input, flow = random_case(case)
        input, flow = input.to(dtype), flow.to(dtype)
        grad_out = torch.randn(input.shape[0], input.shape[1], flow.shape[2], flow.shape[3], dtype=dtype)
        cpu = grads(vfi_ops.backward_warp, input, flow, grad_out, padding_mode)
        gpu = grads(vfi_ops.backward_warp, input.cuda(), flow.cuda(), grad_out.cuda(), padding_mode)
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        assert_all_close(gpu, cpu, rtol=tol, atol=tol)


@pytest.mark.cuda
@pytest.mark.parametrize("padding_mode", MODES)
def test_cuda_gradcheck(padding_mode):
    input = torch.randn(2, 3, 6, 7, dtype=torch.float64, device="cuda", requires_grad=True)
    flow = off_integer_flow(2, 5, 6, 6, 7, device="cuda").requires_grad_()
    assert torch.autograd.gradcheck(lambda i, f: vfi_ops.backward_warp(i, f, padding_mode), (input, flow))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision(dtype):
    input = torch.randn(2, 8, 32, 40, device="cuda")
    flow = smooth_flow(2, 30, 36, 6.0, device="cuda")
    grad_out = torch.randn(2, 8, 30, 36, device="cuda")
    want = grads(vfi_ops.backward_warp, input, flow, grad_out, "zeros")
    got = grads(vfi_ops.backward_warp, input.to(dtype), flow.to(dtype), grad_out.to(dtype), "zeros")
    for a, b in zip(want, got):
        assert b.dtype == dtype
        # The flow itself is rounded to `dtype`, which moves the samples slightly.
        torch.testing.assert_close(b.float(), a, rtol=0.05, atol=0.1 * a.abs().max().item())


@pytest.mark.cuda
def test_cuda_deterministic_mode_raises_for_input_grad():
    input = torch.randn(1, 3, 8, 8, device="cuda", requires_grad=True)
    flow = torch.randn(1, 2, 8, 8, device="cuda", requires_grad=True)
    with DeterministicAlgorithms():
        out = vfi_ops.backward_warp(input, flow)
        with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
            out.sum().backward()
        # The flow gradient alone is a gather and stays available.
        out = vfi_ops.backward_warp(input.detach(), flow)
        out.sum().backward()
        assert torch.isfinite(flow.grad).all()


@pytest.mark.cuda
def test_cuda_device_mismatch():
    with pytest.raises(ValueError, match="flow on the same device as input"):
        vfi_ops.backward_warp(torch.randn(1, 3, 8, 8, device="cuda"), torch.randn(1, 2, 8, 8))


@pytest.mark.cuda
def test_cuda_opcheck_and_compile():
    input = torch.randn(2, 3, 7, 9, device="cuda", dtype=torch.float64, requires_grad=True)
    flow = off_integer_flow(2, 5, 6, 7, 9, device="cuda").requires_grad_()
    torch.library.opcheck(torch.ops.vfi_ops.backward_warp.default, (input, flow, "zeros"))
    compiled = torch.compile(lambda i, f: vfi_ops.backward_warp(i, f).square().sum(), fullgraph=True)
    gi, gf = torch.autograd.grad(compiled(input, flow), (input, flow))
    gi_ref, gf_ref = torch.autograd.grad(vfi_ops.backward_warp(input, flow).square().sum(), (input, flow))
    torch.testing.assert_close(gi, gi_ref)
    torch.testing.assert_close(gf, gf_ref)


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_64bit_indexing():
    # An input of more than 2^30 elements takes the 64-bit index path; sample its far corner.
    h, w = 32768, 32770
    if torch.cuda.get_device_properties(0).total_memory < 12 * 2**30:
        pytest.skip("needs 12 GiB of GPU memory")
    input = torch.zeros(1, 1, h, w, device="cuda")
    corner = torch.randn(1, 1, 4, 4, device="cuda")
    input[..., -4:, -4:] = corner
    shift = torch.tensor([w - 4.0, h - 4.0], device="cuda").view(1, 2, 1, 1)
    local = 0.5 + torch.rand(1, 2, 3, 3, device="cuda") * 0.2  # positions 0.5..2.7 inside the corner block
    out = vfi_ops.backward_warp(input, local + shift)
    # float32 positions near 32768 are rounded to 1/256 px, hence the tolerance
    torch.testing.assert_close(out, vfi_ops.backward_warp(corner, local), rtol=0, atol=0.02)
    del input


@pytest.mark.parametrize("shape", [(1, 3, 20, 24), (3, 5, 12, 10)])
def test_same_result_for_any_thread_count(shape):
    # The CPU backward picks its partition (by planes, or by row bands with private
    # scatter buffers) from the thread count; every choice computes the same.
    B, C, H, W = shape
    input = torch.randn(B, C, H, W, dtype=torch.float64)
    flow = smooth_flow(B, H, W, 4.0, dtype=torch.float64)
    g = torch.randn(B, C, H, W, dtype=torch.float64)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(torch.ops.vfi_ops.backward_warp_backward(g, input, flow, "zeros", [True, True]))
    finally:
        torch.set_num_threads(previous)
    for gi, gf in results[1:]:
        torch.testing.assert_close(gi, results[0][0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gf, results[0][1], rtol=1e-12, atol=1e-12)
