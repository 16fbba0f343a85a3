import sys

import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms, assert_all_close, smooth_flow, sprinkle_non_finite
from op_tester import OpTester, convert
from vfi_ops import reference

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
    non-finite, landing on integers), a weight or None, and fill_holes."""
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
    return flow, weight, bool(seed // 2 % 2)


class TestFlowProjection(OpTester):
    op = "flow_projection"
    cuda_forward_atomic = True
    # The weight gradient reads the output, rounded to float16/bfloat16, in f + O,
    # which nearly cancels where one source lands alone.
    reduced_tolerance = {torch.float16: 2e-2, torch.bfloat16: 1.5e-1}

    def call(self, ops, flow, weight, fill_holes):
        return ops.flow_projection(flow, weight, fill_holes)[0]

    def reference(self, flow, weight, fill_holes):
        return reference.flow_projection(flow, weight, fill_holes)

    def cases(self):
        typical = [
            (
                smooth_flow(2, 16, 20, 4.0, dtype=torch.float64),
                torch.rand(2, 1, 16, 20, dtype=torch.float64) + 0.1,
                fill,
            )
            for fill in FILL
        ]
        larger = (
            smooth_flow(1, 40, 50, 6.0, dtype=torch.float64),
            torch.rand(1, 1, 40, 50, dtype=torch.float64) + 0.1,
            True,
        )
        return typical + [larger] + [random_case(seed) for seed in range(40)]

    def gradcheck_cases(self):
        cases = []
        for B, H, W in [(2, 5, 6), (1, 7, 4)]:
            flow = off_integer_landing_flow(B, H, W)
            weight = torch.rand(B, 1, H, W, dtype=torch.float64) + 0.2
            cases += [(flow, weight, fill) for fill in FILL] + [(flow, None, fill) for fill in FILL]
        return cases

    def empty_cases(self):
        return [
            (torch.randn(shape), torch.rand(shape[0], 1, shape[2], shape[3]), fill)
            for shape in [(0, 2, 4, 5), (2, 2, 0, 5), (2, 2, 4, 0)]
            for fill in FILL
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        flow, weight, fill_holes = args
        out, den = ops.flow_projection(flow, weight, fill_holes)
        return grad_output, flow, weight, out, den, fill_holes, output_mask

    def output_masks(self, args):
        return [[True, True], [True, False], [False, True]]

    def bad_inputs(self, backend):
        d = backend.device
        rand = lambda *shape, **kw: torch.rand(*shape, device=d, **kw)
        bad = [
            ((rand(2, 8, 8), None, False), ValueError, r"flow of shape \[B, 2, H, W\]"),
            ((rand(1, 3, 8, 8), None, False), ValueError, r"flow of shape \[B, 2, H, W\]"),
            ((torch.randint(0, 5, (1, 2, 8, 8), device=d), None, False), TypeError, r"flow to be a floating-point"),
            ((rand(1, 2, 8, 8), rand(1, 8, 8), False), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
            ((rand(1, 2, 8, 8), rand(1, 2, 8, 8), False), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
            ((rand(2, 2, 8, 8), rand(1, 1, 8, 8), False), ValueError, r"weight of shape \[2, 1, 8, 8\]"),
            ((rand(1, 2, 8, 8), rand(1, 1, 8, 7), False), ValueError, r"weight of shape \[1, 1, 8, 8\]"),
            (
                (rand(1, 2, 8, 8), rand(1, 1, 8, 8, dtype=torch.float64), False),
                TypeError,
                r"weight to have the dtype of flow",
            ),
            (
                (rand(1, 2, 8, 8), torch.rand(1, 1, 8, 8, device="meta"), False),
                ValueError,
                r"weight on the same device as flow",
            ),
        ]
        if backend.name == "cpu":
            bad.append(((rand(1, 2, 8, 8).half(), None, False), TypeError, r"CPU kernels support float32 and float64"))
        return bad

    # ---------------------------------------------------------------- flow_projection only

    def test_raw_op_raises_under_deterministic_mode(self, gpu_backend):
        # The CUDA forward accumulates with atomics and says so.
        flow = smooth_flow(1, 10, 12, 3.0, device=gpu_backend.device)
        with DeterministicAlgorithms():
            with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
                gpu_backend.ops.flow_projection(flow, None, True)

    def project(self, backend, flow, weight=None, fill_holes=False):
        """(output, den) of the backend's raw op, on the CPU."""
        out, den = backend.ops.flow_projection(*convert((flow, weight, fill_holes), backend.device))
        return out.cpu(), den.cpu()

    def test_edge_repetition_and_weights(self, backend):
        # H=2, W=3. Source (y=0, x=0) lands exactly on the right edge at (2, 0.5): its
        # footprint is (0,2), (0,2), (1,2), (1,2), each counted twice. Source (y=1, x=0)
        # lands at (1.5, 0.5): (0,1), (0,2), (1,1), (1,2) once. All others land outside.
        flow = torch.full((1, 2, 2, 3), 100.0, dtype=torch.float64)
        flow[0, :, 0, 0] = torch.tensor([2.0, 0.5])
        flow[0, :, 1, 0] = torch.tensor([1.5, -0.5])
        weight = torch.ones(1, 1, 2, 3, dtype=torch.float64)
        weight[0, 0, 1, 0] = 3.0
        out, _ = self.project(backend, flow, weight)
        # column 2: x = -(2*1*2 + 3*1.5) / (2*1 + 3) = -1.7, y = -(2*1*0.5 + 3*-0.5) / 5 = 0.1
        # column 1: only the second source: -(1.5, -0.5); column 0: holes
        want_x = torch.tensor([[0.0, -1.5, -1.7], [0.0, -1.5, -1.7]], dtype=torch.float64)
        want_y = torch.tensor([[0.0, 0.5, 0.1], [0.0, 0.5, 0.1]], dtype=torch.float64)
        torch.testing.assert_close(out[0], torch.stack((want_x, want_y)))
        # Uniform weights: both sources count as 1.
        out, _ = self.project(backend, flow)
        torch.testing.assert_close(out[0, 0, :, 2], torch.full((2,), -(2 * 2.0 + 1.5) / 3, dtype=torch.float64))

    def test_hole_filling(self, backend):
        # 4x4. Source (0,0) lands exactly on the bottom-right corner (3,3): that pixel
        # alone, value -3. Source (1,1) lands on (0,0): the 2x2 block top-left, value 1.
        flow = torch.full((1, 2, 4, 4), 1e6, dtype=torch.float64)
        flow[0, :, 0, 0] = 3.0
        flow[0, :, 1, 1] = -1.0
        plain, _ = self.project(backend, flow)
        want_plain = torch.zeros(4, 4, dtype=torch.float64)
        want_plain[:2, :2] = 1.0
        want_plain[3, 3] = -3.0
        # Each hole: the mean over the rays (left, right, up, down) that find a non-hole.
        want_filled = torch.tensor(
            [
                [1, 1, 1, -1],  # (0,3): left 1, down -3
                [1, 1, 1, -1],
                [1, 1, -1, -3],  # (2,2): no ray finds a landed pixel; the second pass: (1 + 1 - 3 - 3) / 4
                [-1, -1, -3, -3],
            ],  # (3,0): up 1, right -3
            dtype=torch.float64,
        )
        filled, _ = self.project(backend, flow, None, True)
        for c in range(2):
            torch.testing.assert_close(plain[0, c], want_plain)
            torch.testing.assert_close(filled[0, c], want_filled)

    def test_hole_filling_gradient_reaches_averaged_pixels(self, backend):
        # Same scene: the gradient of output (2,3) (a hole filled from (3,3) alone) must
        # reach the source that landed on (3,3), i.e. pixel (0,0); with fill_holes=False
        # it reaches nothing.
        flow = torch.full((1, 2, 4, 4), 1e6, dtype=torch.float64)
        flow[0, :, 0, 0] = 3.0
        flow[0, :, 1, 1] = -1.0
        weight = torch.ones(1, 1, 4, 4, dtype=torch.float64)
        g = torch.zeros(1, 2, 4, 4, dtype=torch.float64, device=backend.device)
        g[0, 0, 2, 3] = 1.0
        _, gf, gw = self.run(backend, convert((flow, weight, True), backend.device), g)
        # O(3,3)_x = -w f_x / w = -f_x: d/df_x = -1; d/dw = -(f_x + O_x) / w = 0
        assert gf[0, 0, 0, 0] == -1.0 and gf[0, 1, 0, 0] == 0.0
        assert torch.count_nonzero(gf) == 1 and torch.count_nonzero(gw) == 0
        _, gf, gw = self.run(backend, convert((flow, weight, False), backend.device), g)
        assert torch.count_nonzero(gf) == 0 and torch.count_nonzero(gw) == 0

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_out_of_range_drop(self, backend, dtype):
        # One row of 3: landing at -tiny and at 2 + tiny is outside, exactly 2 is inside.
        tiny = 1e-6 if dtype == torch.float32 else 1e-12
        flow = torch.tensor([[[[-tiny, 1.0, tiny]], [[0.0, 0.0, 0.0]]]], dtype=dtype)
        out, den = self.project(backend, flow)
        torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.0, -1.0], dtype=dtype))
        torch.testing.assert_close(den[0, 0, 0], torch.tensor([0.0, 0.0, 4.0], dtype=torch.float64))
        filled, _ = self.project(backend, flow, None, True)
        torch.testing.assert_close(filled[0, 0, 0], torch.tensor([-1.0, -1.0, -1.0], dtype=dtype))
        assert (out[0, 1] == 0).all() and (filled[0, 1] == 0).all()
        flow[0, 0, 0, 0] = 0.0  # now (0, 0) lands on itself: (0,0) and (0,1), each twice (H = 1)
        out, den = self.project(backend, flow)
        torch.testing.assert_close(den[0, 0, 0], torch.tensor([2.0, 2.0, 4.0], dtype=torch.float64))
        torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.0, -1.0], dtype=dtype))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("fill_holes", FILL)
    def test_non_finite_flows_are_dropped(self, backend, dtype, fill_holes):
        flow = sprinkle_non_finite(smooth_flow(2, 24, 30, 4.0, dtype=dtype), 0.3)
        dropped = ~torch.isfinite(flow).all(dim=1, keepdim=True) | (flow.abs() > 1e3).any(dim=1, keepdim=True)
        weight = torch.rand(2, 1, 24, 30, dtype=dtype) + 0.1
        out, gf, gw = (t.cpu() for t in self.run(backend, convert((flow, weight, fill_holes), backend.device)))
        assert torch.isfinite(out).all() and torch.isfinite(gf).all() and torch.isfinite(gw).all()
        assert (gf.masked_select(dropped.expand_as(gf)) == 0).all() and (gw.masked_select(dropped) == 0).all()
        # Dropping is the same as sending those pixels far away.
        clean = torch.where(dropped, torch.full_like(flow, 1e6), flow)
        torch.testing.assert_close(out, self.project(backend, clean, weight, fill_holes)[0])

    @pytest.mark.parametrize("fill_holes", FILL)
    def test_non_positive_weights_drop_their_source(self, backend, fill_holes):
        flow = smooth_flow(1, 20, 20, 3.0, dtype=torch.float64)
        weight = torch.rand(1, 1, 20, 20, dtype=torch.float64) + 0.1
        bad = torch.rand(1, 1, 20, 20) < 0.3
        specials = torch.tensor([0.0, -1.0, -1e-30, float("nan"), float("inf"), -float("inf")], dtype=torch.float64)
        weight = torch.where(bad, specials[torch.randint(0, len(specials), (1, 1, 20, 20))], weight)
        # Weights with opposite signs could cancel in sum(w); dropping keeps the result finite.
        out, gf, gw = (t.cpu() for t in self.run(backend, convert((flow, weight, fill_holes), backend.device)))
        assert torch.isfinite(out).all() and torch.isfinite(gf).all() and torch.isfinite(gw).all()
        assert (gw.masked_select(bad) == 0).all()
        moved = torch.where(bad, torch.full_like(flow, 1e6), flow)
        torch.testing.assert_close(out, self.project(backend, moved, torch.where(bad, 1.0, weight), fill_holes)[0])

    def test_corners_no_ray_reaches_are_filled(self, backend):
        # A diagonal pan, DAIN's recipe: the left and bottom strips are uncovered,
        # and so is the block where they meet (rows 22-23, columns 0-3), which no
        # row or column ray from it can fill. The second pass fills it too.
        depth = torch.rand(1, 1, 24, 32, dtype=torch.float64) + 1
        flow_01 = torch.zeros(1, 2, 24, 32, dtype=torch.float64)
        flow_01[:, 0], flow_01[:, 1] = 9.4, -5.8
        out, den = self.project(backend, 0.5 * flow_01, 1 / depth + 1e-6, True)
        assert (den[0, 0, 22:, :4] == 0).all() and (den > 0).any()
        want = torch.tensor([-4.7, 2.9], dtype=torch.float64).view(1, 2, 1, 1).expand_as(out)
        torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)

    def test_zero_flow_hand_computed(self, backend):
        # One row of 3, zero flow, unit weights: source 0 splats on (0, 1), source 1
        # on (1, 2), source 2 on (2, 2), each twice (H = 1): den = 2, 4, 6.
        flow = torch.zeros(1, 2, 1, 3, dtype=torch.float64)
        weight = torch.ones(1, 1, 1, 3, dtype=torch.float64)
        out, den = self.project(backend, flow, weight)
        assert torch.equal(out, torch.zeros_like(out))
        torch.testing.assert_close(
            den[0, 0, 0], torch.tensor([2.0, 4.0, 6.0], dtype=torch.float64) / 2
        )  # scaled by 2^-1
        g = torch.ones(1, 2, 1, 3, dtype=torch.float64, device=backend.device)
        _, gf, gw = (t.cpu() for t in self.run(backend, convert((flow, weight, False), backend.device), g))
        # dL/df_p = -w sum over its targets (repeated) of g / den: -(1/2 + 1/2 + 1/4 + 1/4), ...
        want = torch.tensor([-1.5, -(0.5 + 1 / 3), -4 / 6], dtype=torch.float64)
        torch.testing.assert_close(gf[0, :, 0], want.expand(2, 3), rtol=1e-14, atol=1e-14)
        assert torch.equal(gw, torch.zeros_like(gw))  # -g (f + O) / den with f = O = 0

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_weights_at_the_ends_of_the_float_range(self, backend, dtype):
        # The softmax-splatting metric exp(Z), Z in [80, 88.5], and weights near the
        # float32 maximum: every output finite, equal to the float64 result, and
        # unchanged (bitwise) when all weights are scaled by a power of two.
        g = torch.Generator().manual_seed(5)
        flow = torch.randn(1, 2, 12, 16, generator=g, dtype=torch.float64) * 3
        for weight in (
            (torch.rand(1, 1, 12, 16, generator=g, dtype=torch.float64) * 8.5 + 80).exp(),
            torch.rand(1, 1, 12, 16, generator=g, dtype=torch.float64) * 3e38 + 1e37,
        ):
            want, _ = self.project(backend, flow, weight, True)
            got, _ = self.project(backend, flow.to(dtype), weight.to(dtype), True)
            assert torch.isfinite(got).all()
            torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
            for k in (-120, -60, -1):  # (weights near the float32 maximum: only down)
                assert torch.equal(self.project(backend, flow.to(dtype), weight.to(dtype) * 2.0**k, True)[0], got)
        # Denormal weights (no underflow of w * f): one row of 2 where both sources
        # splat on both pixels, twice each: -(2 w 0.5 - 2 w 0.25) / 4 w = -0.125.
        weight = torch.full((1, 1, 1, 2), 1e-45 if dtype == torch.float32 else 1e-320, dtype=dtype)
        flow = torch.tensor([[[[0.5, -0.25]], [[0.0, 0.0]]]], dtype=dtype)
        out, _ = self.project(backend, flow, weight)
        torch.testing.assert_close(out[0, 0, 0], torch.tensor([-0.125, -0.125], dtype=dtype), rtol=0, atol=0)

    def test_weights_of_any_scale_in_float64(self, backend):
        # Items of weights around 1e300 and 1e-300: the same projection as unit weights.
        flow = torch.randn(3, 2, 10, 12, dtype=torch.float64) * 2
        ones = torch.ones(3, 1, 10, 12, dtype=torch.float64)
        scales = torch.tensor([1e300, 1e-300, 1.0], dtype=torch.float64).view(3, 1, 1, 1)
        for fill in FILL:
            want, _ = self.project(backend, flow, ones, fill)
            got, _ = self.project(backend, flow, ones * scales, fill)
            torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-14)

    @pytest.mark.slow
    def test_landings_past_float32_integers_stay_inside(self, backend):
        # 2^24 + 4 columns: W-1 + 0.25 rounds to W in float32, and so does W-1 itself.
        # Landings are tested in integers, so neither is written past the row.
        W = 2**24 + 4
        flow = torch.full((2, 2, 1, W), float("nan"), device=backend.device)
        flow[0, :, 0, 0] = 0.0
        flow[0, :, 0, -1] = torch.tensor([0.25, 0.0])
        out, den = backend.ops.flow_projection(flow, None, False)
        assert out[1].count_nonzero() == 0 and den[1].count_nonzero() == 0
        assert den[0, 0, 0, 0] == 2 and den[0, 0, 0, 1] == 2 and den[0, 0, 0, 2:].count_nonzero() == 0
        grad_flow, _ = backend.ops.flow_projection_backward(
            torch.ones_like(out), flow, None, out, den, False, [True, False]
        )
        assert grad_flow[0, 0, 0, 0] == -2.0 and grad_flow[0, :, 0, 1:].count_nonzero() == 0

    def test_mostly_holes_matches_reference(self, backend):
        # Almost nothing lands: the fill scans stay linear and still agree.
        flow = torch.full((1, 2, 96, 128), 1e5, dtype=torch.float64)
        flow[0, :, 5, 7] = torch.tensor([40.5, 60.25], dtype=torch.float64)
        flow[0, :, 90, 3] = torch.tensor([0.0, -80.0], dtype=torch.float64)
        for weight in (None, torch.rand(1, 1, 96, 128, dtype=torch.float64) + 0.5):
            out, _ = self.project(backend, flow, weight, True)
            torch.testing.assert_close(out, reference.flow_projection(flow, weight, fill_holes=True))
            assert (out != 0).float().mean() > 0.05  # the fill spread the few values along rows and columns

    def test_den_output(self, backend):
        flow = smooth_flow(2, 10, 12, 3.0, dtype=torch.float64)
        weight = torch.rand(2, 1, 10, 12, dtype=torch.float64) + 0.1
        out, den = self.project(backend, flow, weight)
        assert den.shape == (2, 1, 10, 12) and den.dtype == torch.float64 and (den >= 0).all()
        # Every source that lands contributes 4 times its weight, scaled so that
        # the item's largest lies in [0.5, 1).
        qx = flow[:, :1] + torch.arange(12, dtype=flow.dtype)
        qy = flow[:, 1:] + torch.arange(10, dtype=flow.dtype).view(10, 1)
        lands = (qx >= 0) & (qx <= 11) & (qy >= 0) & (qy <= 9)
        assert 0 < lands.sum() < lands.numel()
        scale = 2.0 ** -torch.frexp(weight.flatten(1).amax(1)).exponent.double()
        torch.testing.assert_close(den.sum(), 4 * (weight * scale.view(2, 1, 1, 1))[lands].sum())
        assert (out.masked_select((den == 0).expand_as(out)) == 0).all()

    def test_bad_backward_inputs(self, backend):
        flow = torch.randn(1, 2, 6, 6, device=backend.device)
        out, den = backend.ops.flow_projection(flow)
        backward = backend.ops.flow_projection_backward
        g = torch.randn(1, 2, 6, 6, device=backend.device)
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 2, 6, 6\]"):
            backward(g[..., :5], flow, None, out, den, False, [True, False])
        with pytest.raises(ValueError, match=r"expected den of shape \[1, 1, 6, 6\]"):
            backward(g, flow, None, out, den[..., :5], False, [True, False])
        with pytest.raises(TypeError, match=r"expected den of dtype Double"):
            backward(g, flow, None, out, den.float(), False, [True, False])


def test_deterministic_fallback_computes_the_same():
    # On CUDA under deterministic mode the function switches to this fallback
    # (the reference, in float for float16/bfloat16); it runs on CPU tensors too.
    fallback = sys.modules["vfi_ops.flow_projection"]._deterministic_fallback
    flow = smooth_flow(2, 20, 24, 4.0, dtype=torch.float64)
    weight = torch.rand(2, 1, 20, 24, dtype=torch.float64) + 0.1
    g = torch.randn(2, 2, 20, 24, dtype=torch.float64)
    assert_all_close(
        run(fallback, flow, weight, True, g), run(vfi_ops.flow_projection, flow, weight, True, g), rtol=1e-9, atol=1e-9
    )
    half = fallback(flow.half(), weight.half(), True)
    assert half.dtype == torch.float16
    torch.testing.assert_close(
        half.double(), vfi_ops.flow_projection(flow.half().double(), weight.half().double(), True), rtol=2e-3, atol=2e-3
    )
    with pytest.raises(ValueError, match=r"weight of shape \[2, 1, 20, 24\]"):
        fallback(flow, weight[:1], True)


@pytest.mark.cuda
def test_cuda_deterministic_mode_falls_back_to_the_reference():
    flow = smooth_flow(1, 40, 50, 5.0, device="cuda")
    weight = torch.rand(1, 1, 40, 50, device="cuda") + 0.1
    with DeterministicAlgorithms():
        first = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
        second = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    fast = run(vfi_ops.flow_projection, flow, weight, True, torch.ones_like(flow))
    assert_all_close(first, fast, rtol=1e-4, atol=1e-4)


def test_public_function_and_module():
    flow, weight = smooth_flow(1, 12, 12, 3.0), torch.rand(1, 1, 12, 12) + 0.1
    torch.testing.assert_close(
        vfi_ops.flow_projection(flow, weight, True), torch.ops.vfi_ops.flow_projection(flow, weight, True)[0]
    )
    proj = vfi_ops.nn.FlowProjection(fill_holes=True)
    assert "fill_holes=True" in repr(proj)
    torch.testing.assert_close(proj(flow, weight), vfi_ops.flow_projection(flow, weight, True))
    torch.testing.assert_close(proj(flow), vfi_ops.flow_projection(flow, None, True))
    for not_a_bool in ("False", 0, None):  # bool("False") is True
        with pytest.raises(TypeError, match="FlowProjection: expected fill_holes to be a bool"):
            vfi_ops.nn.FlowProjection(not_a_bool)


def test_torch_compile_with_the_public_functions():
    def loss_fn(flow, weight, frame):
        projected = vfi_ops.flow_projection(0.5 * flow, 1 / weight + 1e-6, fill_holes=True)
        return vfi_ops.backward_warp(frame, projected, "border").square().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    flow = smooth_flow(2, 16, 16, 3.0).requires_grad_()
    depth = (torch.rand(2, 1, 16, 16) + 1).requires_grad_()
    frame = torch.randn(2, 3, 16, 16)
    grads = torch.autograd.grad(compiled(flow, depth, frame), (flow, depth))
    grads_ref = torch.autograd.grad(loss_fn(flow, depth, frame), (flow, depth))
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
