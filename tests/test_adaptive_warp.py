import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms, off_integer_flow, smooth_flow, sprinkle_non_finite
from op_tester import OpTester, convert
from vfi_ops import reference

WINDOWS = [2, 4]


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


def validity(flow):
    B, _, H, W = flow.shape
    u, v = flow[:, :1], flow[:, 1:]
    xs = u + torch.arange(W, dtype=flow.dtype)
    ys = v + torch.arange(H, dtype=flow.dtype).view(H, 1)
    return (xs >= 0) & (xs <= W - 1) & (ys >= 0) & (ys <= H - 1) & (u.abs() < W / 2) & (v.abs() < H / 2)


class TestAdaptiveWarp(OpTester):
    op = "adaptive_warp"
    thread_bitwise = False  # the banded CPU backward sums per-band copies of the input gradient

    def reference(self, input, flow, kernel):
        return reference.adaptive_warp(input, flow, kernel)

    def cases(self):
        typical = (
            torch.randn(2, 3, 10, 12, dtype=torch.float64),
            smooth_flow(2, 10, 12, 3.0, dtype=torch.float64),
            torch.randn(2, 16, 10, 12, dtype=torch.float64),
        )
        few_planes = (
            torch.randn(1, 3, 20, 24, dtype=torch.float64),
            smooth_flow(1, 20, 24, 3.0, dtype=torch.float64),
            torch.randn(1, 16, 20, 24, dtype=torch.float64),
        )
        return [random_case(0), typical, few_planes] + [random_case(seed) for seed in range(1, 60)]

    def gradcheck_cases(self):
        # Even sizes: then |u| < W/2 never sits within a finite-difference step of its
        # boundary, since sampling positions keep 0.2 px away from integers.
        return [
            (
                torch.randn(B, C, H, W, dtype=torch.float64),
                off_integer_flow(B, H, W, H, W, spread=0.8),
                torch.randn(B, F * F, H, W, dtype=torch.float64),
            )
            for F in WINDOWS
            for B, C, H, W in [(2, 2, 6, 8), (1, 3, 4, 6)]
        ]

    def empty_cases(self):
        return [
            (torch.randn(shape), torch.randn(shape[0], 2, *shape[2:]), torch.randn(shape[0], 16, *shape[2:]))
            for shape in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        return (grad_output,) + tuple(args) + (output_mask,)

    def output_masks(self, args):
        return [
            [True, True, True],
            [True, False, False],
            [False, True, False],
            [False, False, True],
            [False, True, True],
        ]

    def bad_inputs(self, backend):
        d = backend.device

        def inputs(B=1, C=3, H=8, W=8, taps=16, **over):
            t = {
                "input": torch.randn(B, C, H, W, device=d),
                "flow": torch.randn(B, 2, H, W, device=d),
                "kernel": torch.randn(B, taps, H, W, device=d),
            }
            t.update(over)
            return t["input"], t["flow"], t["kernel"]

        rand = lambda *shape, **kw: torch.randn(*shape, device=d, **kw)
        bad = [
            (inputs(input=rand(3, 8, 8)), ValueError, r"input of shape \[B, C, H, W\]"),
            (inputs(flow=rand(1, 3, 8, 8)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
            (inputs(flow=rand(1, 2, 8, 7)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
            (inputs(flow=rand(2, 2, 8, 8)), ValueError, r"flow of shape \[1, 2, 8, 8\]"),
            (inputs(taps=9), ValueError, r"F\*F channels with F even"),
            (inputs(taps=8), ValueError, r"F\*F channels with F even"),
            (inputs(taps=1), ValueError, r"F\*F channels with F even"),
            (inputs(kernel=rand(1, 16, 8, 9)), ValueError, r"kernel of shape \[1, 16, 8, 8\]"),
            (inputs(kernel=rand(2, 16, 8, 8)), ValueError, r"kernel of shape \[1, 16, 8, 8\]"),
            (inputs(kernel=rand(16, 8, 8)), ValueError, r"kernel of shape \[B, F\*F, H, W\]"),
            (inputs(kernel=rand(1, 16, 8, 8, dtype=torch.float64)), TypeError, r"kernel to have the dtype of input"),
            (inputs(flow=rand(1, 2, 8, 8, dtype=torch.float64)), TypeError, r"flow to have the dtype of input"),
            (inputs(input=torch.randint(0, 5, (1, 3, 8, 8), device=d)), TypeError, r"input to be a floating-point"),
            (inputs(kernel=torch.randn(1, 16, 8, 8, device="meta")), ValueError, r"kernel on the same device as input"),
        ]
        if backend.name == "cpu":
            bad.append(
                (
                    (rand(1, 3, 8, 8).half(), rand(1, 2, 8, 8).half(), rand(1, 16, 8, 8).half()),
                    TypeError,
                    r"CPU kernels support float32 and float64",
                )
            )
        return bad

    # ---------------------------------------------------------------- adaptive_warp only

    def test_window_two_with_ones_is_bilinear_warping(self, backend):
        input = torch.randn(2, 3, 9, 12, dtype=torch.float64)
        flow = smooth_flow(2, 9, 12, 4.0, dtype=torch.float64)
        valid = validity(flow)
        assert 0.2 < valid.double().mean() < 1  # both kinds of pixel occur
        out = self.call(
            backend.ops, *convert((input, flow, torch.ones(2, 4, 9, 12, dtype=torch.float64)), backend.device)
        )
        want = torch.where(valid, vfi_ops.backward_warp(input, flow), input)
        torch.testing.assert_close(out.cpu(), want)

    def test_hand_computed(self, backend):
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
        warp = lambda: self.call(backend.ops, *convert((input, flow, kernel), backend.device)).cpu()
        assert warp()[0, 0, 1, 1] == 0.75
        # Replicate clamping: pixel (0, 0) with zero flow has its window at rows and
        # columns -1..2, clamped to 0..2; tap (0, 0) reads (0, 0) and tap (3, 3) reads (2, 2).
        kernel[0, 0, 0, 0] = 2.0  # TL, weight (1-0)(1-0) = 1
        kernel[0, 15, 0, 0] = 5.0  # BR, weight 0 * 0 = 0
        assert warp()[0, 0, 0, 0] == 2.0 * 0
        flow[0, :, 0, 0] = torch.tensor([0.5, 0.5])  # now every quadrant weighs 1/4
        assert warp()[0, 0, 0, 0] == 0.25 * 2.0 * 0 + 0.25 * 5.0 * 10  # (2, 2) holds 10

    def test_exact_positions(self, backend):
        # The row [1, 2, 4, 8] (H = 1, W = 4), F = 2 with kernel TL = 1, TR = 3 (and
        # BL = BR = 0): at a valid pixel O = (1-a) I[X] + 3a I[min(X+1, 3)] and
        # dO/du = 3 I[min(X+1, 3)] - I[X] (the cell to the right), dO/dv = -O.
        # Item 0: u = 0 (x' = 0), 1.5 (x' = 2.5), 1 (x' = 3 = W-1: valid, a = 0),
        # 2^-40 (x' just past W-1: invalid, a copy). Item 1: u = -2^-40 (x' just
        # below 0: invalid), 2 (|u| = W/2: invalid), -1 (x' = 1), -3 (invalid).
        row = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
        input = row.view(1, 1, 1, 4).repeat(2, 1, 1, 1)
        flow = torch.zeros(2, 2, 1, 4, dtype=torch.float64)
        flow[0, 0, 0] = torch.tensor([0.0, 1.5, 1.0, 2.0**-40])
        flow[1, 0, 0] = torch.tensor([-(2.0**-40), 2.0, -1.0, -3.0])
        kernel = torch.zeros(2, 4, 1, 4, dtype=torch.float64)
        kernel[:, 0], kernel[:, 1] = 1.0, 3.0
        g = torch.ones(2, 1, 1, 4, dtype=torch.float64)
        out, gi, gf, gk = (
            t.cpu() for t in self.run(backend, convert((input, flow, kernel), backend.device), g.to(backend.device))
        )
        want_out = torch.tensor([[1.0, 14.0, 8.0, 8.0], [1.0, 2.0, 2.0, 8.0]], dtype=torch.float64)
        want_du = torch.tensor([[5.0, 20.0, 16.0, 0.0], [0.0, 0.0, 10.0, 0.0]], dtype=torch.float64)
        valid = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
        torch.testing.assert_close(out[:, 0, 0], want_out, rtol=0, atol=0)
        torch.testing.assert_close(gf[:, 0, 0], want_du, rtol=0, atol=0)
        torch.testing.assert_close(gf[:, 1, 0], -want_out * valid, rtol=0, atol=0)
        # Kernel gradient: TL (1-a) I[X], TR a I[X+1] at valid pixels, nothing elsewhere.
        torch.testing.assert_close(
            gk[:, 0, 0], torch.tensor([[1.0, 2.0, 8.0, 0.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64), rtol=0, atol=0
        )
        torch.testing.assert_close(
            gk[:, 1, 0], torch.tensor([[0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64), rtol=0, atol=0
        )
        assert gk[:, 2:].count_nonzero() == 0
        # Input gradient: the identity at invalid pixels, the taps' weights at valid ones.
        want_gi = torch.tensor([[1.0, 0.0, 0.5, 1.0 + 1.0 + 1.5], [1.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
        want_gi[1, 1] += 1.0  # item 1, x = 2 reads I[1] with weight 1
        torch.testing.assert_close(gi[:, 0, 0], want_gi, rtol=0, atol=0)

    @pytest.mark.slow
    def test_windows_past_float32_integers_stay_inside(self, backend):
        # 2^24 + 4 columns: x' = W-1 + 0.25 rounds to W in float32; the cell is
        # tested in integers, so the pixel is invalid (a copy), never a window past the row.
        W = 2**24 + 4
        input = torch.ones(2, 1, 1, W, device=backend.device)
        input[1] = 7.0
        flow = torch.zeros(2, 2, 1, W, device=backend.device)
        flow[:, 0, 0, -2] = 1.25
        kernel = torch.full((2, 4, 1, W), 2.0, device=backend.device)  # a valid pixel would double its value
        out = self.call(backend.ops, input, flow, kernel)
        assert out[0, 0, 0, -2] == 1.0 and out[1, 0, 0, -2] == 7.0

    def test_invalid_pixels_copy_the_input_and_pass_its_gradient(self, backend):
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
        out, gi, gf, gk = (
            t.cpu() for t in self.run(backend, convert((input, flow, kernel), backend.device), g.to(backend.device))
        )
        for x in (0, 7):
            torch.testing.assert_close(out[0, :, 0, x], input[0, :, 0, x])
        want_gi = torch.zeros_like(input)
        want_gi[0, :, 0, 0] = 1.0
        want_gi[0, :, 0, 7] = 2.0
        torch.testing.assert_close(gi, want_gi)  # the identity, nothing else
        assert torch.count_nonzero(gf) == 0 and torch.count_nonzero(gk) == 0
        assert not torch.allclose(out[0, :, 1, 0], input[0, :, 1, 0])

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_non_finite_flows(self, backend, dtype):
        input = torch.randn(2, 3, 16, 20, dtype=dtype)
        flow = sprinkle_non_finite(smooth_flow(2, 16, 20, 3.0, dtype=dtype), 0.3)
        kernel = torch.rand(2, 16, 16, 20, dtype=dtype)
        out, gi, gf, gk = (t.cpu() for t in self.run(backend, convert((input, flow, kernel), backend.device)))
        for t in (out, gi, gf, gk):
            assert torch.isfinite(t).all()
        bad = ~torch.isfinite(flow).all(dim=1, keepdim=True) | (flow.abs() > 1e3).any(dim=1, keepdim=True)
        torch.testing.assert_close(out.masked_select(bad.expand_as(out)), input.masked_select(bad.expand_as(input)))
        assert (gf.masked_select(bad.expand_as(gf)) == 0).all() and (gk.masked_select(bad.expand_as(gk)) == 0).all()

    def test_deterministic_mode_raises_for_the_input_gradient_only(self, gpu_backend):
        input, flow, kernel = convert(self.cases()[1], gpu_backend.device)
        flow.requires_grad_()
        kernel.requires_grad_()
        with DeterministicAlgorithms():
            with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
                self.call(gpu_backend.ops, input.requires_grad_(), flow, kernel).sum().backward()
            # Flow and kernel gradients alone are owned by their pixel: available.
            gf, gk = torch.autograd.grad(self.call(gpu_backend.ops, input.detach(), flow, kernel).sum(), (flow, kernel))
            gf2, gk2 = torch.autograd.grad(
                self.call(gpu_backend.ops, input.detach(), flow, kernel).sum(), (flow, kernel)
            )
        assert torch.equal(gf, gf2) and torch.equal(gk, gk2)

    def test_bad_grad_output(self, backend):
        d = backend.device
        input, flow, kernel = (
            torch.randn(1, 3, 8, 8, device=d),
            torch.randn(1, 2, 8, 8, device=d),
            torch.randn(1, 16, 8, 8, device=d),
        )
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 8, 8\]"):
            backend.ops.adaptive_warp_backward(
                torch.randn(1, 3, 8, 7, device=d), input, flow, kernel, [True, True, True]
            )


def test_public_function_and_module():
    input, flow, kernel = random_case(2)
    torch.testing.assert_close(
        vfi_ops.adaptive_warp(input, flow, kernel), torch.ops.vfi_ops.adaptive_warp(input, flow, kernel)
    )
    torch.testing.assert_close(
        vfi_ops.nn.AdaptiveWarp()(input, flow, kernel), vfi_ops.adaptive_warp(input, flow, kernel)
    )


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
    torch.testing.assert_close(
        out[..., -4:, -4:], vfi_ops.adaptive_warp(corner, local_flow, local_kernel)[..., -4:, -4:]
    )
    del input, flow, kernel, out
