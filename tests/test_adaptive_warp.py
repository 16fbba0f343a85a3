import pytest
import torch

import vfi_ops
from vfi_ops import reference
from helpers import (DeterministicAlgorithms, assert_all_close, off_integer_flow, smooth_flow, sprinkle_non_finite,
                     strided)

WINDOWS = [2, 4]


def run(fn, input, flow, kernel, grad_out):
    """Output and the gradients to input, flow and kernel of fn."""
    inputs = tuple(t.detach().clone().requires_grad_() for t in (input, flow, kernel))
    out = fn(*inputs)
    return (out.detach(),) + torch.autograd.grad(out, inputs, grad_out)


def random_case(seed):
    """Random sizes and window, and a flow of one of several kinds: small, beyond
    half the image (many invalid pixels), far out, non-finite, integer."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W, F = r(1, 2), r(1, 4), r(1, 11), r(1, 11), [2, 4, 6][seed % 3]
    kind = seed % 5
    flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g)
    flow = flow * [1.5, 0.6 * max(H, W), 1e6, 2.0, 1.5][kind]
    if kind == 3:
        flow = sprinkle_non_finite(flow, 0.2)
    if kind == 4:
        flow = flow.round()
    input = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
    kernel = torch.randn(B, F * F, H, W, dtype=torch.float64, generator=g)
    return input, flow, kernel


@pytest.mark.parametrize("F", WINDOWS)
def test_gradcheck(F):
    # Even sizes: then |u| < W/2 never sits within a finite-difference step of its
    # boundary, since sampling positions keep 0.2 px away from integers.
    for B, C, H, W in [(2, 2, 6, 8), (1, 3, 4, 6)]:
        input = torch.randn(B, C, H, W, dtype=torch.float64, requires_grad=True)
        flow = off_integer_flow(B, H, W, H, W, spread=0.8).requires_grad_()
        kernel = torch.randn(B, F * F, H, W, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(vfi_ops.adaptive_warp, (input, flow, kernel))


@pytest.mark.parametrize("case", range(60))
def test_matches_reference_float64(case):
    input, flow, kernel = random_case(case)
    grad_out = torch.randn(input.shape, dtype=torch.float64)
    ours = run(vfi_ops.adaptive_warp, input, flow, kernel, grad_out)
    ref = run(reference.adaptive_warp, input, flow, kernel, grad_out)
    for name, a, b in zip(["output", "grad_input", "grad_flow", "grad_kernel"], ours, ref):
        assert torch.isfinite(a).all(), name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"{name}: {m}")


def test_matches_reference_float32():
    input = torch.randn(2, 5, 40, 48)
    flow = smooth_flow(2, 40, 48, 6.0)
    kernel = torch.rand(2, 16, 40, 48)
    grad_out = torch.randn(2, 5, 40, 48)
    ours = run(vfi_ops.adaptive_warp, input, flow, kernel, grad_out)
    ref = run(reference.adaptive_warp, input.double(), flow.double(), kernel.double(), grad_out.double())
    for a, b in zip(ours, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)


def validity(flow):
    B, _, H, W = flow.shape
    u, v = flow[:, :1], flow[:, 1:]
    xs = u + torch.arange(W, dtype=flow.dtype)
    ys = v + torch.arange(H, dtype=flow.dtype).view(H, 1)
    return (xs >= 0) & (xs <= W - 1) & (ys >= 0) & (ys <= H - 1) & (u.abs() < W / 2) & (v.abs() < H / 2)


def test_window_two_with_ones_is_bilinear_warping():
    input = torch.randn(2, 3, 9, 12, dtype=torch.float64)
    flow = smooth_flow(2, 9, 12, 4.0, dtype=torch.float64)
    valid = validity(flow)
    assert 0.2 < valid.double().mean() < 1  # both kinds of pixel occur
    out = vfi_ops.adaptive_warp(input, flow, torch.ones(2, 4, 9, 12, dtype=torch.float64))
    want = torch.where(valid, vfi_ops.backward_warp(input, flow), input)
    torch.testing.assert_close(out, want)


def test_hand_computed():
    # 1x1 channel, 4x4 image with values 0..15 (row-major), F = 4, one pixel (1, 1)
    # with flow (0.25, 0.5): x' = 1.25, y' = 1.5, X = Y = 1, a = 0.25, b = 0.5. The
    # window is rows 0..3, columns 0..3, the whole image; with a kernel that is 1
    # on tap (m, n) = (1, 2) only (quadrant TR, image value 1*4 + 2 = 6), the
    # output is a(1-b) * 6 = 0.75.
    input = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    flow = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    flow[0, :, 1, 1] = torch.tensor([0.25, 0.5])
    kernel = torch.zeros(1, 16, 4, 4, dtype=torch.float64)
    kernel[0, 4 * 1 + 2, 1, 1] = 1.0
    out = vfi_ops.adaptive_warp(input, flow, kernel)
    assert out[0, 0, 1, 1] == 0.75
    # Replicate clamping: pixel (0, 0) with zero flow has its window at rows and
    # columns -1..2, clamped to 0..2; tap (0, 0) reads (0, 0) and tap (3, 3) reads (2, 2).
    kernel[0, 0, 0, 0] = 2.0  # TL, weight (1-0)(1-0) = 1
    kernel[0, 15, 0, 0] = 5.0  # BR, weight 0 * 0 = 0
    out = vfi_ops.adaptive_warp(input, flow, kernel)
    assert out[0, 0, 0, 0] == 2.0 * 0
    flow[0, :, 0, 0] = torch.tensor([0.5, 0.5])  # now every quadrant weighs 1/4
    out = vfi_ops.adaptive_warp(input, flow, kernel)
    assert out[0, 0, 0, 0] == 0.25 * 2.0 * 0 + 0.25 * 5.0 * 10  # (2, 2) holds 10


def test_invalid_pixels_copy_the_input_and_pass_its_gradient():
    # W = 8: |u| must stay below 4. Pixel (0, 0) with u = 4.5 lands inside the
    # image at x' = 4.5 but is invalid; pixel (0, 7) with u = 1 lands outside.
    input = torch.randn(1, 2, 3, 8, dtype=torch.float64)
    flow = torch.zeros(1, 2, 3, 8, dtype=torch.float64)
    flow[0, 0, 0, 0] = 4.5
    flow[0, 0, 0, 7] = 1.0
    flow[0, 0, 1, 0] = 3.5  # valid: x' = 3.5
    kernel = torch.rand(1, 16, 3, 8, dtype=torch.float64)
    g = torch.zeros(1, 2, 3, 8, dtype=torch.float64)
    g[0, :, 0, 0] = 1.0
    g[0, :, 0, 7] = 2.0
    out, gi, gf, gk = run(vfi_ops.adaptive_warp, input, flow, kernel, g)
    for x in (0, 7):
        torch.testing.assert_close(out[0, :, 0, x], input[0, :, 0, x])
    want_gi = torch.zeros_like(input)
    want_gi[0, :, 0, 0] = 1.0
    want_gi[0, :, 0, 7] = 2.0
    torch.testing.assert_close(gi, want_gi)  # the identity, nothing else
    assert torch.count_nonzero(gf) == 0 and torch.count_nonzero(gk) == 0
    assert not torch.allclose(out[0, :, 1, 0], input[0, :, 1, 0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_flows(dtype):
    input = torch.randn(2, 3, 16, 20, dtype=dtype)
    flow = sprinkle_non_finite(smooth_flow(2, 16, 20, 3.0, dtype=dtype), 0.3)
    kernel = torch.rand(2, 16, 16, 20, dtype=dtype)
    out, gi, gf, gk = run(vfi_ops.adaptive_warp, input, flow, kernel, torch.randn(2, 3, 16, 20, dtype=dtype))
    for t in (out, gi, gf, gk):
        assert torch.isfinite(t).all()
    bad = ~torch.isfinite(flow).all(dim=1, keepdim=True) | (flow.abs() > 1e3).any(dim=1, keepdim=True)
    torch.testing.assert_close(out.masked_select(bad.expand_as(out)), input.masked_select(bad.expand_as(input)))
    assert (gf.masked_select(bad.expand_as(gf)) == 0).all() and (gk.masked_select(bad.expand_as(gk)) == 0).all()


@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)])
def test_empty(shape):
    B, C, H, W = shape
    input = torch.randn(shape, requires_grad=True)
    flow = torch.randn(B, 2, H, W, requires_grad=True)
    kernel = torch.randn(B, 16, H, W, requires_grad=True)
    out = vfi_ops.adaptive_warp(input, flow, kernel)
    assert out.shape == shape
    out.sum().backward()
    for t in (input, flow, kernel):
        assert t.grad.shape == t.shape and (t.grad == 0).all()


def test_layouts():
    input = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    flow = smooth_flow(2, 10, 12, 3.0, dtype=torch.float64)
    kernel = torch.randn(2, 16, 10, 12, dtype=torch.float64)
    g = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    want = run(vfi_ops.adaptive_warp, input, flow, kernel, g)
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)
    for args in [(cl(input), cl(flow), cl(kernel), cl(g)), (strided(input), strided(flow), strided(kernel), strided(g))]:
        assert_all_close(run(vfi_ops.adaptive_warp, *args), want, rtol=0, atol=0)
    expanded = g[:1].expand(2, 3, 10, 12)
    assert_all_close(run(vfi_ops.adaptive_warp, input, flow, kernel, expanded),
                     run(vfi_ops.adaptive_warp, input, flow, kernel, expanded.contiguous()), rtol=0, atol=0)


def test_only_requested_gradients():
    input, flow, kernel = random_case(0)
    g = torch.randn(input.shape, dtype=torch.float64)
    backward = torch.ops.vfi_ops.adaptive_warp_backward
    full = backward(g, input, flow, kernel, [True, True, True])
    for mask in ([True, False, False], [False, True, False], [False, False, True], [False, True, True]):
        got = backward(g, input, flow, kernel, mask)
        for needed, a, b in zip(mask, got, full):
            assert torch.equal(a, b) if needed else a.numel() == 0
    # Through autograd: a kernel-only graph gets only the kernel gradient.
    k = kernel.clone().requires_grad_()
    (vfi_ops.adaptive_warp(input, flow, k) * g).sum().backward()
    torch.testing.assert_close(k.grad, full[2])


def test_double_backward_raises():
    input, flow, kernel = (t.requires_grad_() for t in random_case(1))
    (gk,) = torch.autograd.grad(vfi_ops.adaptive_warp(input, flow, kernel).sum(), kernel, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gk.sum().backward()


def test_module():
    input, flow, kernel = random_case(2)
    torch.testing.assert_close(vfi_ops.nn.AdaptiveWarp()(input, flow, kernel), vfi_ops.adaptive_warp(input, flow, kernel))


@pytest.mark.parametrize("F", WINDOWS)
def test_opcheck(F):
    input = torch.randn(2, 3, 6, 8, dtype=torch.float64, requires_grad=True)
    flow = off_integer_flow(2, 6, 8, 6, 8, spread=0.8).requires_grad_()
    kernel = torch.randn(2, F * F, 6, 8, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.vfi_ops.adaptive_warp.default, (input, flow, kernel))
    g = torch.randn(2, 3, 6, 8, dtype=torch.float64)
    for mask in ([True, True, True], [True, False, False], [False, True, True]):
        torch.library.opcheck(torch.ops.vfi_ops.adaptive_warp_backward.default,
                              (g, input.detach(), flow.detach(), kernel.detach(), mask))


def test_torch_compile_fullgraph():
    def loss_fn(input, flow, kernel, target):
        return (vfi_ops.adaptive_warp(input, flow, kernel) - target).abs().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    input = torch.randn(2, 3, 16, 16, requires_grad=True)
    flow = smooth_flow(2, 16, 16, 3.0).requires_grad_()
    kernel = torch.rand(2, 16, 16, 16, requires_grad=True)
    target = torch.randn(2, 3, 16, 16)
    loss = compiled(input, flow, kernel, target)
    grads = torch.autograd.grad(loss, (input, flow, kernel))
    loss_ref = loss_fn(input, flow, kernel, target)
    grads_ref = torch.autograd.grad(loss_ref, (input, flow, kernel))
    torch.testing.assert_close(loss, loss_ref)
    assert_all_close(grads, grads_ref)


def _inputs(B=1, C=3, H=8, W=8, taps=16, **over):
    t = {"input": torch.randn(B, C, H, W), "flow": torch.randn(B, 2, H, W), "kernel": torch.randn(B, taps, H, W)}
    t.update(over)
    return t["input"], t["flow"], t["kernel"]


BAD_INPUTS = [
    # (input, flow, kernel), exception, message fragment
    (_inputs(input=torch.randn(3, 8, 8)), ValueError, r"input of shape \[B, C, H, W\]"),
    (_inputs(flow=torch.randn(1, 3, 8, 8)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
    (_inputs(flow=torch.randn(1, 2, 8, 7)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
    (_inputs(flow=torch.randn(2, 2, 8, 8)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
    (_inputs(taps=9), ValueError, r"F\*F channels with F even"),
    (_inputs(taps=8), ValueError, r"F\*F channels with F even"),
    (_inputs(taps=1), ValueError, r"F\*F channels with F even"),
    (_inputs(kernel=torch.randn(1, 16, 8, 9)), ValueError, r"kernel of shape \[1, 16, 8, 8\]"),
    (_inputs(kernel=torch.randn(2, 16, 8, 8)), ValueError, r"kernel of shape \[1, 16, 8, 8\]"),
    (_inputs(kernel=torch.randn(16, 8, 8)), ValueError, r"kernel of shape \[B, F\*F, H, W\]"),
    (_inputs(kernel=torch.randn(1, 16, 8, 8, dtype=torch.float64)), TypeError, r"kernel to have the dtype of input"),
    (_inputs(flow=torch.randn(1, 2, 8, 8, dtype=torch.float64)), TypeError, r"flow to have the dtype of input"),
    (_inputs(input=torch.randint(0, 5, (1, 3, 8, 8))), TypeError, r"input to be a floating-point"),
    ((torch.randn(1, 3, 8, 8).half(), torch.randn(1, 2, 8, 8).half(), torch.randn(1, 16, 8, 8).half()), TypeError,
     r"CPU kernels support float32 and float64"),
    (_inputs(kernel=torch.randn(1, 16, 8, 8, device="meta")), ValueError, r"kernel on the same device as input"),
]


@pytest.mark.parametrize("args,exc,match", BAD_INPUTS)
def test_bad_inputs(args, exc, match):
    with pytest.raises(exc, match=match):
        vfi_ops.adaptive_warp(*args)


def test_bad_grad_output():
    input, flow, kernel = _inputs()
    with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 8, 8\]"):
        torch.ops.vfi_ops.adaptive_warp_backward(torch.randn(1, 3, 8, 7), input, flow, kernel, [True, True, True])


@pytest.mark.parametrize("shape", [(1, 3, 20, 24), (3, 5, 12, 10)])
def test_same_result_for_any_thread_count(shape):
    # The CPU backward picks its partition (by planes, or by row bands with private
    # scatter buffers) from the thread count; every choice computes the same.
    B, C, H, W = shape
    input = torch.randn(shape, dtype=torch.float64)
    flow = smooth_flow(B, H, W, 3.0, dtype=torch.float64)
    kernel = torch.randn(B, 16, H, W, dtype=torch.float64)
    g = torch.randn(shape, dtype=torch.float64)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(torch.ops.vfi_ops.adaptive_warp_backward(g, input, flow, kernel, [True, True, True]))
    finally:
        torch.set_num_threads(previous)
    for result in results[1:]:
        assert_all_close(result, results[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    for case in range(15):
        input, flow, kernel = (t.to(dtype) for t in random_case(case))
        grad_out = torch.randn(input.shape, dtype=dtype)
        cpu = run(vfi_ops.adaptive_warp, input, flow, kernel, grad_out)
        cuda = run(vfi_ops.adaptive_warp, input.cuda(), flow.cuda(), kernel.cuda(), grad_out.cuda())
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        assert_all_close(cuda, cpu, rtol=tol, atol=tol)


@pytest.mark.cuda
@pytest.mark.parametrize("F", WINDOWS)
def test_cuda_gradcheck(F):
    input = torch.randn(2, 2, 6, 8, dtype=torch.float64, device="cuda", requires_grad=True)
    flow = off_integer_flow(2, 6, 8, 6, 8, spread=0.8, device="cuda").requires_grad_()
    kernel = torch.randn(2, F * F, 6, 8, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(vfi_ops.adaptive_warp, (input, flow, kernel))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision(dtype):
    # Compare with the float32 op on the same rounded inputs.
    input = torch.randn(2, 8, 30, 36, device="cuda").to(dtype)
    flow = smooth_flow(2, 30, 36, 4.0, device="cuda").to(dtype)
    kernel = torch.rand(2, 16, 30, 36, device="cuda").to(dtype)
    grad_out = torch.randn(2, 8, 30, 36, device="cuda").to(dtype)
    want = run(vfi_ops.adaptive_warp, input.float(), flow.float(), kernel.float(), grad_out.float())
    got = run(vfi_ops.adaptive_warp, input, flow, kernel, grad_out)
    for a, b in zip(want, got):
        assert b.dtype == dtype
        torch.testing.assert_close(b.float(), a, rtol=0.02, atol=0.02 * a.abs().max().item())


@pytest.mark.cuda
def test_cuda_deterministic_mode():
    input = torch.randn(1, 3, 12, 12, device="cuda", requires_grad=True)
    flow = smooth_flow(1, 12, 12, 3.0, device="cuda").requires_grad_()
    kernel = torch.rand(1, 16, 12, 12, device="cuda", requires_grad=True)
    with DeterministicAlgorithms():
        with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
            vfi_ops.adaptive_warp(input, flow, kernel).sum().backward()
        # Flow and kernel gradients alone are owned by their pixel: available.
        gf, gk = torch.autograd.grad(vfi_ops.adaptive_warp(input.detach(), flow, kernel).sum(), (flow, kernel))
        gf2, gk2 = torch.autograd.grad(vfi_ops.adaptive_warp(input.detach(), flow, kernel).sum(), (flow, kernel))
    assert torch.equal(gf, gf2) and torch.equal(gk, gk2)


@pytest.mark.cuda
def test_cuda_device_mismatch():
    with pytest.raises(ValueError, match="kernel on the same device as input"):
        vfi_ops.adaptive_warp(torch.randn(1, 3, 8, 8, device="cuda"), torch.randn(1, 2, 8, 8, device="cuda"),
                              torch.randn(1, 16, 8, 8))


@pytest.mark.cuda
def test_cuda_opcheck_and_compile():
    input = torch.randn(2, 3, 6, 8, dtype=torch.float64, device="cuda", requires_grad=True)
    flow = off_integer_flow(2, 6, 8, 6, 8, spread=0.8, device="cuda").requires_grad_()
    kernel = torch.randn(2, 16, 6, 8, dtype=torch.float64, device="cuda", requires_grad=True)
    torch.library.opcheck(torch.ops.vfi_ops.adaptive_warp.default, (input, flow, kernel))
    compiled = torch.compile(lambda i, f, k: vfi_ops.adaptive_warp(i, f, k).square().sum(), fullgraph=True)
    grads = torch.autograd.grad(compiled(input, flow, kernel), (input, flow, kernel))
    grads_ref = torch.autograd.grad(vfi_ops.adaptive_warp(input, flow, kernel).square().sum(), (input, flow, kernel))
    assert_all_close(grads, grads_ref)


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_64bit_indexing():
    # An input of more than 2^30 elements takes the 64-bit index path; warp its far corner.
    C, h, w = 8, 12000, 12000
    if torch.cuda.get_device_properties(0).total_memory < 40 * 2**30:
        pytest.skip("needs 40 GiB of GPU memory")
    input = torch.zeros(1, C, h, w, device="cuda")
    corner = torch.randn(1, C, 6, 6, device="cuda")
    input[..., -6:, -6:] = corner
    flow = torch.zeros(1, 2, h, w, device="cuda")
    kernel = torch.zeros(1, 16, h, w, device="cuda")
    local_flow = 0.5 * torch.rand(1, 2, 6, 6, device="cuda") - 0.25
    local_kernel = torch.rand(1, 16, 6, 6, device="cuda")
    flow[..., -6:, -6:] = local_flow
    kernel[..., -6:, -6:] = local_kernel
    out = vfi_ops.adaptive_warp(input, flow, kernel)
    torch.testing.assert_close(out[..., -4:, -4:], vfi_ops.adaptive_warp(corner, local_flow, local_kernel)[..., -4:, -4:])
    del input, flow, kernel, out
