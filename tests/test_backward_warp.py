import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms, off_integer_flow, smooth_flow, sprinkle_non_finite
from op_tester import OpTester, convert
from vfi_ops import reference

MODES = ["zeros", "border"]


def random_case(seed):
    """Random sizes (1-pixel ones too) and a flow of one of several kinds: small,
    large, far out, non-finite, on integers (landing on the edges too), zero."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W = r(1, 3), r(1, 5), r(1, 12), r(1, 12)
    h_in, w_in = (H, W) if seed % 3 == 0 else (r(1, 12), r(1, 12))
    kind = seed % 6
    flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g)
    flow = flow * [2.0, 2.0 * max(h_in, w_in), 1e6, 3.0, 2.0, 0.0][kind]
    if kind == 3:
        flow = sprinkle_non_finite(flow, 0.2)
    if kind == 4:
        flow = flow.round()
    input = torch.randn(B, C, h_in, w_in, dtype=torch.float64, generator=g)
    return input, flow, MODES[seed // 6 % 2]


class TestBackwardWarp(OpTester):
    op = "backward_warp"
    thread_bitwise = False  # the banded CPU backward sums per-band copies of the input gradient

    def reference(self, input, flow, padding_mode):
        return reference.backward_warp(input, flow, padding_mode)

    def cases(self):
        typical = [
            (torch.randn(2, 5, 12, 10, dtype=torch.float64), smooth_flow(2, 9, 11, 3.0, dtype=torch.float64), m)
            for m in MODES
        ]
        few_planes = (
            torch.randn(1, 3, 20, 24, dtype=torch.float64),
            smooth_flow(1, 20, 24, 4.0, dtype=torch.float64),
            "zeros",
        )
        return typical + [few_planes] + [random_case(seed) for seed in range(48)]

    def gradcheck_cases(self):
        return [
            (torch.randn(B, C, h_in, w_in, dtype=torch.float64), off_integer_flow(B, H, W, h_in, w_in), mode)
            for B, C, H, W, h_in, w_in in [(2, 3, 5, 6, 5, 6), (1, 2, 4, 7, 6, 3)]
            for mode in MODES
        ]

    def empty_cases(self):
        return [
            (torch.randn(B, C, 6, 6), torch.randn(B, 2, H, W), "zeros")
            for B, C, H, W in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        input, flow, padding_mode = args
        return grad_output, input, flow, padding_mode, output_mask

    def bad_inputs(self, backend):
        d = backend.device
        rand = lambda *shape, **kw: torch.randn(*shape, device=d, **kw)
        bad = [
            ((rand(3, 8, 8), rand(1, 2, 8, 8), "zeros"), ValueError, r"input of shape \[B, C, Hin, Win\]"),
            ((rand(1, 3, 8, 8), rand(2, 8, 8), "zeros"), ValueError, r"flow of shape \[B, 2, H, W\]"),
            ((rand(1, 3, 8, 8), rand(1, 3, 8, 8), "zeros"), ValueError, r"flow of shape \[B, 2, H, W\] with B = 1"),
            ((rand(2, 3, 8, 8), rand(1, 2, 8, 8), "zeros"), ValueError, r"batch size of input"),
            (
                (rand(1, 3, 8, 8), rand(1, 2, 8, 8, dtype=torch.float64), "zeros"),
                TypeError,
                r"flow to have the dtype of input",
            ),
            (
                (torch.randint(0, 5, (1, 3, 8, 8), device=d), rand(1, 2, 8, 8), "zeros"),
                TypeError,
                r"input to be a floating-point",
            ),
            (
                (rand(1, 3, 8, 8), torch.randint(0, 5, (1, 2, 8, 8), device=d), "zeros"),
                TypeError,
                r"flow to have the dtype of input",
            ),
            (
                (rand(1, 3, 8, 8), rand(1, 2, 8, 8), "reflection"),
                ValueError,
                r"padding_mode must be 'zeros' or 'border'",
            ),
            ((rand(1, 3, 0, 8), rand(1, 2, 8, 8), "zeros"), ValueError, r"non-empty spatial size"),
            (
                (rand(1, 3, 8, 8), torch.randn(1, 2, 8, 8, device="meta"), "zeros"),
                ValueError,
                r"flow on the same device as input",
            ),
        ]
        if backend.name == "cpu":
            bad.append(
                (
                    (rand(1, 3, 8, 8).half(), rand(1, 2, 8, 8).half(), "zeros"),
                    TypeError,
                    r"CPU kernels support float32 and float64",
                )
            )
        return bad

    # ---------------------------------------------------------------- backward_warp only

    def test_hand_computed(self, backend):
        # 2x2 input; each output pixel samples a known position.
        input = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64, device=backend.device)
        flow = torch.zeros(1, 2, 1, 3, dtype=torch.float64, device=backend.device)
        flow[0, :, 0, 0] = torch.tensor([0.5, 0.5])  # centre of the 4 pixels -> 2.5
        flow[0, :, 0, 1] = torch.tensor([-0.75, 0.0])  # x = 0.25 -> 1.25
        flow[0, :, 0, 2] = torch.tensor([-1.5, 1.0])  # x = 0.5, y = 1 -> 3.5
        out = self.call(backend.ops, input, flow, "zeros")
        torch.testing.assert_close(out.cpu(), torch.tensor([[[[2.5, 1.25, 3.5]]]], dtype=torch.float64))
        # Half a pixel beyond the right edge: "zeros" blends with 0, "border" clamps.
        flow = torch.tensor([[[[1.5]], [[0.0]]]], dtype=torch.float64, device=backend.device)
        assert self.call(backend.ops, input, flow, "zeros").item() == pytest.approx(1.0)
        assert self.call(backend.ops, input, flow, "border").item() == pytest.approx(2.0)

    def test_zero_flow_gradients_at_the_edges(self, backend):
        # A 5x5 image whose values are 0..4 along x, zero flow: the output is the
        # image; the flow gradient of out.sum() is the derivative of the cell to the
        # right ("zeros": the missing right neighbour counts as 0), and 0 on the
        # border in "border" mode (clamped there, as grid_sample).
        image = torch.arange(5, dtype=torch.float64).repeat(5, 1).view(1, 1, 5, 5)
        values = torch.arange(5, dtype=torch.float64)
        for mode, gx_row, gy_last in (
            ("zeros", [1.0, 1.0, 1.0, 1.0, -4.0], -values),
            ("border", [0.0, 1.0, 1.0, 1.0, 0.0], torch.zeros(5, dtype=torch.float64)),
        ):
            args = convert((image, torch.zeros(1, 2, 5, 5, dtype=torch.float64), mode), backend.device)
            out, gi, gf = (
                t.cpu()
                for t in self.run(backend, args, torch.ones(1, 1, 5, 5, dtype=torch.float64, device=backend.device))
            )
            assert torch.equal(out, image)
            assert torch.equal(gi, torch.ones_like(image))
            torch.testing.assert_close(gf[0, 0], torch.tensor(gx_row, dtype=torch.float64).expand(5, 5), rtol=0, atol=0)
            want_gy = torch.zeros(5, 5, dtype=torch.float64)
            want_gy[4] = gy_last
            torch.testing.assert_close(gf[0, 1], want_gy, rtol=0, atol=0)

    # (x, value, d value / dx) on the row [1, 2, 4, 8] (y = 0 of a 1-row input).
    EXACT = {
        "zeros": [
            (2.0, 4.0, 4.0),
            (0.0, 1.0, 1.0),
            (1.5, 3.0, 2.0),
            (3.0, 8.0, -8.0),
            (-1.0, 0.0, 1.0),
            (3.0 + 2.0**-40, 8.0 * (1 - 2.0**-40), -8.0),
            (4.0, 0.0, 0.0),
            (-1.0 - 2.0**-40, 0.0, 0.0),
        ],
        "border": [
            (2.0, 4.0, 4.0),
            (0.0, 1.0, 0.0),
            (1.5, 3.0, 2.0),
            (3.0, 8.0, 0.0),
            (-1.0, 1.0, 0.0),
            (3.0 + 2.0**-40, 8.0, 0.0),
            (4.0, 8.0, 0.0),
            (-1.0 - 2.0**-40, 1.0, 0.0),
        ],
    }

    @pytest.mark.parametrize("padding_mode", MODES)
    def test_exact_positions(self, backend, padding_mode):
        row = torch.tensor([[[[1.0, 2.0, 4.0, 8.0]]]], dtype=torch.float64)
        xs, values, slopes = (torch.tensor(c, dtype=torch.float64) for c in zip(*self.EXACT[padding_mode]))
        flow = torch.zeros(1, 2, 1, len(xs), dtype=torch.float64)
        flow[0, 0, 0] = xs - torch.arange(len(xs), dtype=torch.float64)
        g = torch.ones(1, 1, 1, len(xs), dtype=torch.float64)
        out, _, gf = (
            t.cpu() for t in self.run(backend, convert((row, flow, padding_mode), backend.device), g.to(backend.device))
        )
        torch.testing.assert_close(out[0, 0, 0], values, rtol=0, atol=0)
        torch.testing.assert_close(gf[0, 0, 0], slopes, rtol=0, atol=0)
        # y = 0 on a 1-row input is its last row: "zeros" takes the missing row
        # below as 0 (d/dy = -value), "border" is clamped there (0).
        want_gy = -values if padding_mode == "zeros" else torch.zeros_like(values)
        torch.testing.assert_close(gf[0, 1, 0], want_gy, rtol=0, atol=0)

    @pytest.mark.parametrize("padding_mode", MODES)
    def test_matches_grid_sample_on_integers(self, backend, padding_mode):
        # Where grid_sample's grid normalisation is exact (sizes 2^k + 1), its values
        # and gradients at integer and half-integer positions are an independent check.
        input = torch.randn(2, 3, 9, 17, dtype=torch.float64)
        flow = (torch.randint(-6, 24, (2, 2, 7, 8)) / 2).double() - torch.stack(
            torch.meshgrid(torch.arange(7.0), torch.arange(8.0), indexing="ij")[::-1]
        ).double()
        args = (input, flow, padding_mode)
        g = torch.randn(2, 3, 7, 8, dtype=torch.float64)
        want = [input.detach().clone().requires_grad_(), flow.detach().clone().requires_grad_()]
        ref = reference.grid_sample_warp(*want, padding_mode)
        ref_grads = torch.autograd.grad(ref, want, g)
        ours = self.run(backend, convert(args, backend.device), g.to(backend.device))
        self.assert_close(ours, (ref.detach(),) + ref_grads, "grid_sample", rtol=1e-12, atol=1e-12)

    @pytest.mark.slow
    def test_positions_past_float32_integers_stay_inside(self, backend):
        # 2^24 + 4 columns: x = W-1 and W-1 + 0.25 both round to W in float32. The
        # taps are tested in integers, so nothing is read from the next plane (all 7).
        W = 2**24 + 4
        input = torch.ones(2, 1, 1, W, device=backend.device)
        input[1] = 7.0
        flow = torch.zeros(2, 2, 1, 2, device=backend.device)
        flow[:, 0, 0, 0] = W - 1.0  # output pixel 0 samples x = W-1, pixel 1 x = W-1 + 0.25
        flow[:, 0, 0, 1] = W - 2.0 + 0.25
        out = self.call(backend.ops, input, flow, "zeros")
        assert (out[0] <= 1.0).all() and (out[0] >= 0.0).all() and (out[1] <= 7.0).all()
        grad_input, grad_flow = backend.ops.backward_warp_backward(
            torch.ones_like(out), input, flow, "zeros", [True, True]
        )
        assert grad_input.sum() <= out.numel() and torch.isfinite(grad_flow).all()
        assert grad_input[0, 0, 0, 0] == 0 and grad_input[1, 0, 0, 0] == 0  # nothing went to the next row

    def test_one_pixel_wide_input(self, backend):
        # grid_sample cannot express this case; bilinear weights can.
        input = torch.tensor([[[[5.0], [7.0]]]], dtype=torch.float64, device=backend.device)  # 2 x 1
        flow = torch.tensor([[[[-0.25, 0.5]], [[0.5, 0.0]]]], dtype=torch.float64, device=backend.device)
        out = self.call(backend.ops, input, flow, "zeros")
        # (x, y) = (-0.25, 0.5): 0.75 * mean(5, 7); (1.5, 0.0): outside -> 0
        torch.testing.assert_close(out.cpu(), torch.tensor([[[[0.75 * 6.0, 0.0]]]], dtype=torch.float64))
        assert self.call(backend.ops, input, flow, "border")[0, 0, 0].tolist() == pytest.approx([6.0, 5.0])

    @pytest.mark.parametrize("padding_mode", MODES)
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_non_finite_and_huge_flows(self, backend, padding_mode, dtype):
        input = torch.randn(2, 3, 16, 16, dtype=dtype)
        flow = sprinkle_non_finite(smooth_flow(2, 16, 16, 4.0, dtype=dtype), 0.3)
        args = convert((input, flow, padding_mode), backend.device)
        out, gi, gf = self.run(backend, args)
        assert torch.isfinite(out).all() and torch.isfinite(gi).all() and torch.isfinite(gf).all()
        nan = torch.isnan(args[1]).any(dim=1, keepdim=True)
        assert (out.masked_select(nan.expand_as(out)) == 0).all()  # NaN samples nothing
        assert (gf.masked_select(nan.expand_as(gf)) == 0).all()
        torch.testing.assert_close(out.cpu(), reference.backward_warp(input, flow, padding_mode), rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("padding_mode", MODES)
    def test_matches_grid_sample_float32(self, backend, padding_mode):
        args = convert((torch.randn(2, 4, 40, 56), smooth_flow(2, 32, 48, 8.0), padding_mode), backend.device)
        g = torch.randn(2, 4, 32, 48, device=backend.device)
        self.assert_close(self.run(backend, args, g), self.run_reference(args, g), "float32", rtol=1e-4, atol=1e-4)

    def test_every_tap_stays_inside(self, backend):
        # Flows aimed just outside each edge: any out-of-bounds read would pull in
        # values from the neighbouring planes (all 100) instead of the plane's own (1).
        input = torch.full((2, 3, 5, 7), 100.0, dtype=torch.float64)
        input[:, 1] = 1.0
        eps = 1e-9
        targets = [(-1 + eps, 2.0), (6 + 1 - eps, 2.0), (3.0, -1 + eps), (3.0, 5 - eps), (-0.5, -0.5), (6.5, 4.5)]
        flow = torch.zeros(2, 2, 1, len(targets), dtype=torch.float64)
        for i, (x, y) in enumerate(targets):
            flow[:, 0, 0, i], flow[:, 1, 0, i] = x - i, y
        input, flow = convert((input, flow), backend.device)
        out = self.call(backend.ops, input, flow, "zeros")
        assert (out[:, 1] <= 1.0 + 1e-12).all() and (out[:, 1] >= 0).all()
        gi, _ = backend.ops.backward_warp_backward(torch.ones_like(out), input, flow, "zeros", [True, False])
        assert gi.sum() <= out.numel() + 1e-9  # no weight went astray

    def test_flow_only_graph_gets_only_the_flow_gradient(self, backend):
        input, flow, _ = convert(self.cases()[0], backend.device)
        g = torch.randn(2, 5, 9, 11, dtype=torch.float64, device=backend.device)
        _, gf_both = backend.ops.backward_warp_backward(g, input, flow, "zeros", [True, True])
        f = flow.clone().requires_grad_()
        (self.call(backend.ops, input, f, "zeros") * g).sum().backward()
        torch.testing.assert_close(f.grad, gf_both)

    def test_deterministic_mode_raises_for_the_input_gradient_only(self, gpu_backend):
        # The CUDA input gradient is scattered with atomics; the flow gradient is a gather.
        input, flow, _ = convert(self.cases()[0], gpu_backend.device)
        with DeterministicAlgorithms():
            out = self.call(gpu_backend.ops, input.requires_grad_(), flow.requires_grad_(), "zeros")
            with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
                out.sum().backward()
            out = self.call(gpu_backend.ops, input.detach(), flow, "zeros")
            out.sum().backward()
            assert torch.isfinite(flow.grad).all()

    def test_bad_grad_output(self, backend):
        input, flow = torch.randn(1, 3, 8, 8, device=backend.device), torch.randn(1, 2, 6, 6, device=backend.device)
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 6, 6\]"):
            backend.ops.backward_warp_backward(
                torch.randn(1, 3, 8, 8, device=backend.device), input, flow, "zeros", [True, True]
            )

    @pytest.mark.parametrize("bad", [float("inf"), float("nan")])
    def test_non_finite_pixels_reach_only_their_samples(self, backend, bad):
        # Taps outside the input contribute nothing, whatever the input holds: no
        # kernel may read a pixel for them (an inf or NaN in pixel 0, where such
        # taps point, once turned every sample near the right and bottom edges
        # into NaN). Non-finite pixels inside reach the samples that use them, as
        # IEEE arithmetic has it (the reference's values). (Not compared: the flow
        # gradient in "border" mode where clamping zeroes it next to an inf pixel,
        # 0 * inf = NaN here, where the reference's where() gives 0.)
        input = torch.randn(2, 3, 6, 7, dtype=torch.float64)
        input[:, :, 0, 0] = bad
        input[1, 2, 4, 5] = bad
        flow = smooth_flow(2, 5, 8, 3.0, dtype=torch.float64)
        flow[:, :, ::2] = flow[:, :, ::2].round()
        g = torch.randn(2, 3, 5, 8, dtype=torch.float64)
        for mode in MODES:
            for layout in (torch.contiguous_format, torch.channels_last):
                args = convert((input.contiguous(memory_format=layout), flow, mode), backend.device)
                ours, ref = self.run(backend, args, g.to(backend.device)), self.run_reference(args, g)
                compared = zip(ours, ref) if mode == "zeros" else zip(ours[:2], ref[:2])
                for i, (a, b) in enumerate(compared):
                    torch.testing.assert_close(a.cpu(), b.cpu(), equal_nan=True, msg=lambda m: f"{mode} {i}: {m}")
                # Far from both bad pixels, everything is finite.
                assert torch.isfinite(ours[0][0, :, 2:, 2:]).all()

    @pytest.mark.parametrize("C", [1, 2, 3, 4, 5, 64])
    def test_channels_last(self, backend, C):
        # A channels-last input is sampled in place (NHWC on the CPU) and gives
        # channels-last results (one channel: the input is also contiguous, and so
        # are the results): the values of the contiguous input, the output bitwise
        # (the same taps summed in the same order). Integer, non-finite, far and
        # out-of-range positions included; the incoming gradient stays NCHW.
        g = torch.Generator().manual_seed(C)
        for dtype in (torch.float32, torch.float64):
            input = torch.randn(2, C, 13, 17, generator=g, dtype=dtype)
            flow = smooth_flow(2, 11, 19, 6.0, dtype=dtype)
            flow[:, :, ::3] = flow[:, :, ::3].round()
            flow[1] = sprinkle_non_finite(flow[1], 0.1)
            layout = torch.contiguous_format if C == 1 else torch.channels_last
            for mode in MODES:
                args = convert((input, flow, mode), backend.device)
                nhwc = (args[0].contiguous(memory_format=torch.channels_last),) + args[1:]
                want, got = self.run(backend, args), self.run(backend, nhwc)
                assert got[0].is_contiguous(memory_format=layout) and got[1].is_contiguous(memory_format=layout)
                assert torch.equal(got[0], want[0])
                tol = 1e-12 if dtype == torch.float64 else 1e-5
                self.assert_close(got[1:], want[1:], f"{dtype} {mode}", rtol=tol, atol=tol)
        # Integer landings on and past the edges, far and non-finite flows, 1-pixel
        # sizes (random_case's kinds), NHWC against NCHW.
        for seed in range(48):
            args = convert(random_case(seed), backend.device)
            nhwc = (args[0].contiguous(memory_format=torch.channels_last),) + args[1:]
            want, got = self.run(backend, args), self.run(backend, nhwc)
            assert torch.equal(got[0], want[0]), f"case {seed}"
            self.assert_close(got[1:], want[1:], f"case {seed}", rtol=1e-12, atol=1e-12)
        # The fake kernels give the same layouts (torch.compile, opcheck).
        args = convert(self.gradcheck_cases()[0], backend.device)
        nhwc = (args[0].contiguous(memory_format=torch.channels_last).requires_grad_(),) + args[1:]
        torch.library.opcheck(backend.ops.backward_warp.default, nhwc)
        out = self.call(backend.ops, *nhwc)
        for mask in ([True, True], [True, False], [False, True]):
            torch.library.opcheck(
                backend.ops.backward_warp_backward.default,
                (torch.randn_like(out), nhwc[0].detach(), nhwc[1], nhwc[2], mask),
            )


def test_plain_grid_sample_path_agrees_on_finite_flows():
    # The benchmarks time reference.grid_sample_warp; it must compute the same thing.
    input = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    flow = smooth_flow(2, 7, 8, 6.0, dtype=torch.float64)
    for mode in MODES:
        torch.testing.assert_close(
            reference.grid_sample_warp(input, flow, mode), vfi_ops.backward_warp(input, flow, mode)
        )


def test_public_function_and_module():
    input, flow = torch.randn(1, 3, 8, 8), smooth_flow(1, 8, 8, 3.0)
    torch.testing.assert_close(
        vfi_ops.backward_warp(input, flow, "border"), torch.ops.vfi_ops.backward_warp(input, flow, "border")
    )
    warp = vfi_ops.nn.BackwardWarp("border")
    assert "border" in repr(warp)
    torch.testing.assert_close(warp(input, flow), vfi_ops.backward_warp(input, flow, "border"))
    with pytest.raises(ValueError, match="padding_mode"):
        vfi_ops.nn.BackwardWarp("reflection")


def test_torch_compile_with_the_public_function():
    def loss_fn(input, flow, target):
        return (vfi_ops.backward_warp(input, flow, "border") - target).abs().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    input = torch.randn(2, 3, 16, 16, requires_grad=True)
    flow = smooth_flow(2, 16, 16, 3.0).requires_grad_()
    target = torch.randn(2, 3, 16, 16)
    grads = torch.autograd.grad(compiled(input, flow, target), (input, flow))
    grads_ref = torch.autograd.grad(loss_fn(input, flow, target), (input, flow))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b)


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
