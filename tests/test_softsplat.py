import math
import sys

import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms, assert_all_close, smooth_flow, sprinkle_non_finite
from op_tester import OpTester, convert, num_threads
from vfi_ops import reference

MODES = ["sum", "avg", "linear", "soft"]
NORMALIZED = ["avg", "linear", "soft"]
METRIC_MODES = ["linear", "soft"]


def make_metric(mode, B, H, W, kind=0, dtype=torch.float64, generator=None):
    """None for "sum" and "avg"; else a metric of one of several kinds: ordinary,
    huge (1000 for "soft", 1e30 for "linear"), tiny (1e-30 times an ordinary one)."""
    if mode not in METRIC_MODES:
        return None
    if mode == "linear":
        base = torch.rand(B, 1, H, W, dtype=dtype, generator=generator) * 3 + 0.05
        return base * [1.0, 1e30, 1e-30][kind]
    base = torch.randn(B, 1, H, W, dtype=dtype, generator=generator) * 2
    return [base, base + 1000, base * 1e-30][kind]


def off_integer_landing_flow(B, H, W, dtype=torch.float64, out_fraction=0.2):
    """A flow whose targets p + f keep 0.2 px away from integers (where the taps
    change), so finite differences are valid: in cells from -1 (partly inside) to
    the last one, and a fraction far outside."""

    def target(n, shape):
        cell = torch.randint(-1, n, shape).to(dtype)
        cell = torch.where(torch.rand(shape) < out_fraction, cell + 2 * n + 3, cell)
        return cell + 0.5 + 0.6 * (torch.rand(shape, dtype=dtype) - 0.5)

    xs = torch.arange(W, dtype=dtype).view(1, 1, W)
    ys = torch.arange(H, dtype=dtype).view(1, H, 1)
    return torch.stack((target(W, (B, H, W)) - xs, target(H, (B, H, W)) - ys), dim=1)


def random_case(seed):
    """Random sizes, a flow of one of several kinds (small, large, far out,
    non-finite, exactly integer), every mode, metrics ordinary, huge and tiny."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W = r(1, 3), r(1, 4), r(1, 12), r(1, 12)
    mode, kind = MODES[seed % 4], seed % 5
    flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g)
    flow = flow * [2.0, 0.7 * max(H, W), 1e6, 3.0, 2.0][kind]
    if kind == 3:
        flow = sprinkle_non_finite(flow, 0.2)
    if kind == 4:  # integer targets, including the last column and row and just beyond
        flow = flow.round()
    input = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
    return input, flow, make_metric(mode, B, H, W, seed // 20 % 3, generator=g), mode


def splat(backend, input, flow, metric, mode):
    """(output, den, metric_max) of the backend's raw op, on the CPU."""
    out = getattr(backend.ops, "softsplat")(*convert((input, flow, metric, mode), backend.device))
    return tuple(t.cpu() for t in out)


def shift_left(t, dim):
    """t[..., i + 1, ...] at i along dim (0 at the end): the right or lower neighbour."""
    return torch.cat((t.narrow(dim, 1, t.shape[dim] - 1), torch.zeros_like(t.narrow(dim, 0, 1))), dim)


class TestSoftSplat(OpTester):
    op = "softsplat"
    cuda_forward_atomic = True
    # The metric gradient sums g (input - output) / den, in which float16/bfloat16
    # rounding of the output nearly cancels where a source lands almost alone.
    reduced_tolerance = {torch.float16: 1e-2, torch.bfloat16: 8e-2}

    def call(self, ops, input, flow, metric, mode):
        return ops.softsplat(input, flow, metric, mode)[0]

    def reference(self, input, flow, metric, mode):
        return reference.softsplat(input, flow, metric, mode)

    def cases(self):
        typical = []
        for mode in ["soft", "linear", "avg", "sum"]:
            typical.append(
                (
                    torch.randn(2, 3, 16, 20, dtype=torch.float64),
                    smooth_flow(2, 16, 20, 4.0, dtype=torch.float64),
                    make_metric(mode, 2, 16, 20),
                    mode,
                )
            )
        larger = (
            torch.rand(1, 5, 40, 50, dtype=torch.float64),
            smooth_flow(1, 40, 50, 6.0, dtype=torch.float64),
            make_metric("soft", 1, 40, 50),
            "soft",
        )
        return typical + [larger] + [random_case(seed) for seed in range(40)]

    def gradcheck_cases(self):
        cases = []
        for mode in MODES:
            for B, C, H, W in [(2, 2, 5, 6), (1, 3, 4, 3)]:
                cases.append(
                    (
                        torch.randn(B, C, H, W, dtype=torch.float64),
                        off_integer_landing_flow(B, H, W),
                        make_metric(mode, B, H, W),
                        mode,
                    )
                )
        return cases

    def empty_cases(self):
        return [
            (torch.randn(B, C, H, W), torch.randn(B, 2, H, W), make_metric(mode, B, H, W, dtype=torch.float32), mode)
            for B, C, H, W in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]
            for mode in ["soft", "sum"]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        input, flow, metric, mode = args
        out, den, metric_max = ops.softsplat(input, flow, metric, mode)
        return grad_output, input, flow, metric, mode, out, den, metric_max, output_mask

    def output_masks(self, args):
        if args[2] is None:
            return [[True, True, False], [True, False, False], [False, True, False]]
        return [[True, True, True], [True, False, False], [False, True, False], [False, False, True]]

    def bad_inputs(self, backend):
        d = backend.device
        rand = lambda *shape, **kw: torch.rand(*shape, device=d, **kw)
        x, f, m = rand(1, 3, 8, 8), rand(1, 2, 8, 8), rand(1, 1, 8, 8)
        bad = [
            (
                (x, f, m, "max"),
                ValueError,
                r"softsplat\(\): expected mode to be one of 'sum', 'avg', 'linear', 'soft', but got 'max'",
            ),
            ((x, f, None, "soft"), ValueError, r"mode 'soft' needs a metric of shape \[1, 1, 8, 8\], but got None"),
            ((x, f, None, "linear"), ValueError, r"mode 'linear' needs a metric"),
            ((x, f, m, "sum"), ValueError, r"expected metric to be None for mode 'sum'"),
            ((x, f, m, "avg"), ValueError, r"expected metric to be None for mode 'avg'"),
            ((rand(3, 8, 8), f, m, "soft"), ValueError, r"expected input of shape \[B, C, H, W\]"),
            (
                (x, rand(1, 3, 8, 8), m, "soft"),
                ValueError,
                r"expected flow of shape \[1, 2, 8, 8\] \(B, H, W of input\)",
            ),
            ((x, rand(2, 2, 8, 8), m, "soft"), ValueError, r"expected flow of shape \[1, 2, 8, 8\]"),
            ((x, rand(1, 2, 8, 7), m, "soft"), ValueError, r"expected flow of shape \[1, 2, 8, 8\]"),
            ((x, rand(2, 8, 8), m, "soft"), ValueError, r"expected flow of shape \[1, 2, 8, 8\]"),
            ((x, f, rand(1, 2, 8, 8), "soft"), ValueError, r"expected metric of shape \[1, 1, 8, 8\]"),
            ((x, f, rand(1, 8, 8), "linear"), ValueError, r"expected metric of shape \[1, 1, 8, 8\]"),
            ((x, f, rand(1, 1, 8, 9), "soft"), ValueError, r"expected metric of shape \[1, 1, 8, 8\]"),
            ((x, f.double(), m, "soft"), TypeError, r"expected flow to have the dtype of input"),
            ((x, f, m.double(), "soft"), TypeError, r"expected metric to have the dtype of input"),
            ((torch.randint(0, 5, (1, 3, 8, 8), device=d), f, m, "soft"), TypeError, r"input to be a floating-point"),
            ((x, torch.rand(1, 2, 8, 8, device="meta"), m, "soft"), ValueError, r"flow on the same device as input"),
            ((x, f, torch.rand(1, 1, 8, 8, device="meta"), "soft"), ValueError, r"metric on the same device as input"),
        ]
        if backend.name == "cpu":
            bad.append(((x.half(), f.half(), m.half(), "soft"), TypeError, r"CPU kernels support float32 and float64"))
        return bad

    # ---------------------------------------------------------------- softsplat only

    @pytest.mark.parametrize("mode", MODES)
    def test_zero_flow(self, backend, mode):
        # Every source lands on itself with weight 1; its right and lower taps have
        # weight 0 but their derivatives count (one-sided, in the cell [x, x+1]),
        # except where those taps fall outside (last column, last row).
        B, C, H, W = 2, 3, 5, 6
        input = torch.randn(B, C, H, W, dtype=torch.float64)
        metric = make_metric(mode, B, H, W)
        flow = torch.zeros(B, 2, H, W, dtype=torch.float64)
        g = torch.randn(B, C, H, W, dtype=torch.float64)
        out, gi, gf, *gm = (
            t.cpu()
            for t in self.run(backend, convert((input, flow, metric, mode), backend.device), g.to(backend.device))
        )
        if mode in ("sum", "avg"):
            assert torch.equal(out, input) and torch.equal(gi, g)
        else:
            torch.testing.assert_close(out, input, rtol=1e-15, atol=1e-15)
            torch.testing.assert_close(gi, g, rtol=1e-15, atol=1e-15)
        # z_p / z_t between a source and the neighbour it moves towards.
        if mode == "soft":
            ratio = lambda dim: torch.exp(metric[:, 0] - shift_left(metric[:, 0], dim))
        elif mode == "linear":
            ratio = lambda dim: (
                metric[:, 0] / torch.where(shift_left(metric[:, 0], dim) > 0, shift_left(metric[:, 0], dim), 1)
            )
        else:
            ratio = lambda dim: torch.ones(B, H, W, dtype=torch.float64)
        # x moves towards the right neighbour, y towards the lower one; at the last
        # column (row) that tap is outside: shift_left gives 0 there.
        for c, dim in ((0, 3), (1, 2)):
            g_next = shift_left(g, dim)
            if mode == "sum":  # d out[t]/dq = -input[p] at p, +input[p] at the neighbour
                want = (input * (g_next - g)).sum(1)
            else:  # d out[t]/dq = (z_p / den_t) (input[p] - out[t]): 0 at p, where out = input
                want = ratio(dim - 1) * (g_next * (input - shift_left(input, dim))).sum(1)
            torch.testing.assert_close(gf[:, c], want, rtol=1e-12, atol=1e-12)
        if gm:  # the metric moves only weight at p, where input == output
            torch.testing.assert_close(gm[0], torch.zeros_like(gm[0]), rtol=0, atol=1e-13)

    @pytest.mark.parametrize("mode", ["sum", "avg"])
    def test_integer_flow_moves_whole_pixels(self, backend, mode):
        # Everything moves one pixel right: column 0 receives nothing, the last
        # column's sources land on x = W (outside) and are dropped.
        input = torch.tensor([[[[1.0, 2.0, 4.0, 8.0], [3.0, 5.0, 7.0, 9.0]]]], dtype=torch.float64)
        flow = torch.zeros(1, 2, 2, 4, dtype=torch.float64)
        flow[:, 0] = 1.0
        g = torch.tensor([[[[0.5, -1.0, 2.0, 3.0], [1.5, 0.25, -2.0, 1.0]]]], dtype=torch.float64)
        out, gi, gf = (
            t.cpu() for t in self.run(backend, convert((input, flow, None, mode), backend.device), g.to(backend.device))
        )
        torch.testing.assert_close(
            out, torch.tensor([[[[0.0, 1.0, 2.0, 4.0], [0.0, 3.0, 5.0, 7.0]]]], dtype=torch.float64), rtol=0, atol=0
        )
        torch.testing.assert_close(
            gi, torch.tensor([[[[-1.0, 2.0, 3.0, 0.0], [0.25, -2.0, 1.0, 0.0]]]], dtype=torch.float64), rtol=0, atol=0
        )
        if mode == "sum":
            # d/dqx: -input[p] g[x+1] + input[p] g[x+2] (the tap at x+2 only if inside).
            want_x = [[1 * (2 - -1), 2 * (3 - 2), 4 * (0 - 3), 0], [3 * (-2 - 0.25), 5 * (1 + 2), 7 * (0 - 1), 0]]
            # d/dqy: -input[p] g[y, x+1] + input[p] g[y+1, x+1] (row 1 has no row below).
            want_y = [[1 * (0.25 + 1), 2 * (-2 - 2), 4 * (1 - 3), 0], [3 * -0.25, 5 * 2.0, 7 * -1.0, 0]]
        else:
            # Alone on its target, a source's own tap gives input - output = 0; its tap at
            # x+2 (den 1, from the next source) gives g[x+2] (input[p] - input[p+1]).
            want_x = [[2 * (1 - 2), 3 * (2 - 4), 0, 0], [-2 * (3 - 5), 1 * (5 - 7), 0, 0]]
            # d/dqy: g[y+1, x+1] (input[y, x] - output[y+1, x+1]) for row 0.
            want_y = [[0.25 * (1 - 3), -2.0 * (2 - 5), 1.0 * (4 - 7), 0], [0, 0, 0, 0]]
        torch.testing.assert_close(gf[0, 0], torch.tensor(want_x, dtype=torch.float64), rtol=0, atol=1e-15)
        torch.testing.assert_close(gf[0, 1], torch.tensor(want_y, dtype=torch.float64), rtol=0, atol=1e-15)

    def test_soft_weights_hand_computed(self, backend):
        # Two sources land on pixel (0, 1) with exp-weights 1 and 3; a third lands
        # half-way between (1, 0) and (1, 1).
        input = torch.tensor([[[[2.0, 6.0], [10.0, 7.0]]]], dtype=torch.float64)
        flow = torch.tensor([[[[1.0, 0.0], [0.5, 1e6]], [[0.0, 0.0], [0.0, 0.0]]]], dtype=torch.float64)
        metric = torch.tensor([[[[0.0, math.log(3.0)], [-5.0, 1e4]]]], dtype=torch.float64)
        out, den, metric_max = splat(backend, input, flow, metric, "soft")
        torch.testing.assert_close(
            out[0, 0], torch.tensor([[0.0, (1 * 2 + 3 * 6) / 4], [10.0, 10.0]], dtype=torch.float64), rtol=1e-14, atol=0
        )
        # metric_max: the largest metric among the sources that land (not 1e4).
        assert metric_max.tolist() == [math.log(3.0)]
        s = math.exp(-5.0 - math.log(3.0))
        torch.testing.assert_close(
            den[0, 0], torch.tensor([[0.0, 4 / 3], [s / 2, s / 2]], dtype=torch.float64), rtol=1e-14, atol=0
        )

    def test_smallest_contributing_factor_float32(self, backend):
        # Zero flow, one source per pixel, source 0 holds the largest metric (z = 1).
        # The CPU kernels keep subnormal sums; a GPU's float atomic add flushes them
        # (the emulated backend does as the GPU), so on CUDA a contribution below
        # 2^-126 adds nothing: to the denominator (output 0) or to the numerator.
        gpu = backend.name != "cpu"
        zeros = torch.zeros(1, 2, 1, 5)
        input = torch.tensor([[[[3.0, 2.0, 0.5, 2.0, 1.0]]]])
        # "linear": z = Z / M exactly: 1, 2^-126 (the smallest normal), again with
        # 0.5 z subnormal, 2^-127 (subnormal), and 2^-125.
        metric = torch.tensor([[[[1.0, 2.0**-126, 2.0**-126, 2.0**-127, 2.0**-125]]]])
        out, den, _ = splat(backend, *convert((input, zeros, metric), backend.device), "linear")
        want = [3.0, 2.0, 0.0 if gpu else 0.5, 0.0 if gpu else 2.0, 1.0]
        assert out[0, 0, 0].tolist() == want
        assert den[0, 0, 0].tolist() == [1.0, 2.0**-126, 2.0**-126, 0.0 if gpu else 2.0**-127, 2.0**-125]
        # "soft": z = exp(Z - M), normal for Z - M = -87, subnormal for -90.
        metric = torch.tensor([[[[0.0, -87.0, -90.0, -87.0, -90.0]]]])
        out, den, _ = splat(backend, *convert((input, zeros, metric), backend.device), "soft")
        want = [3.0, 2.0, 0.0 if gpu else 0.5, 2.0, 0.0 if gpu else 1.0]
        assert out[0, 0, 0].tolist() == want
        assert (den[0, 0, 0, 1::2] > 0).all() and (den[0, 0, 0, 2::2] == 0).all() == gpu
        # float64 keeps subnormals everywhere.
        metric = torch.tensor([[[[1.0, 2.0**-1060, 2.0**-1060, 2.0**-1070, 1.0]]]], dtype=torch.float64)
        args = convert((input.double(), zeros.double(), metric), backend.device)
        assert splat(backend, *args, "linear")[0][0, 0, 0].tolist() == [3.0, 2.0, 0.5, 2.0, 1.0]

    @pytest.mark.parametrize("mode", MODES)
    def test_edges_and_just_outside(self, backend, mode):
        # One source, at (0, 1) of a 3x4 image, value 3, sent to hand-picked targets;
        # every other source lands far away.
        tiny = 2.0**-40
        cases = [  # (qx, qy) -> {(row, col): bilinear weight}
            ((3.0, 2.0), {(2, 3): 1.0}),  # exactly on the last column and row: inside
            ((0.0, 0.0), {(0, 0): 1.0}),
            ((3.5, 1.0), {(1, 3): 0.5}),  # half beyond the last column: its right tap dropped
            ((3.0, 1.25), {(1, 3): 0.75, (2, 3): 0.25}),
            ((-0.5, 1.0), {(1, 0): 0.5}),
            ((4.0 - tiny, 0.0), {(0, 3): tiny}),  # just inside
            ((-1.0 + tiny, 0.0), {(0, 0): tiny}),
            ((4.0, 1.0), {}),  # exactly on x = W or x = -1: nothing lands
            ((-1.0, 1.0), {}),
            ((1.0, 3.0), {}),
            ((2.0, -1.0), {}),
        ]
        for (qx, qy), taps in cases:
            input = torch.full((1, 1, 3, 4), 3.0, dtype=torch.float64)
            flow = torch.full((1, 2, 3, 4), 1e6, dtype=torch.float64)
            flow[0, 0, 1, 0], flow[0, 1, 1, 0] = qx - 0.0, qy - 1.0
            metric = make_metric(mode, 1, 3, 4)
            out, den, _ = splat(backend, input, flow, metric, mode)
            # z = 1 in every mode: the one source that lands has its item's largest metric.
            want_den = torch.zeros(3, 4, dtype=torch.float64)
            for (row, col), w in taps.items():
                want_den[row, col] = w
            want_out = (
                3.0 * want_den if mode == "sum" else torch.where(want_den > 0, torch.full_like(want_den, 3.0), 0.0)
            )
            torch.testing.assert_close(den[0, 0], want_den, rtol=0, atol=0, msg=f"target {(qx, qy)}")
            torch.testing.assert_close(out[0, 0], want_out, rtol=0, atol=0, msg=f"target {(qx, qy)}")

    def test_edge_gradients_are_one_sided(self, backend):
        # "sum", one source of value 2 landing exactly on (W-1, H-1): only its top-left tap
        # is inside, d out/dqx = -(1-b) * 2 there (the cell [W-1, W]), and likewise in y.
        input = torch.full((1, 1, 3, 4), 2.0, dtype=torch.float64)
        flow = torch.full((1, 2, 3, 4), 1e6, dtype=torch.float64)
        flow[0, :, 0, 0] = torch.tensor([3.0, 2.0], dtype=torch.float64)
        g = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
        g[0, 0, 2, 3] = 1.5
        g[0, 0, 2, 2] = 100.0  # a neighbour outside the cell: never read
        _, gi, gf = (
            t.cpu()
            for t in self.run(backend, convert((input, flow, None, "sum"), backend.device), g.to(backend.device))
        )
        assert gf[0, :, 0, 0].tolist() == [-3.0, -3.0]
        assert gi[0, 0, 0, 0].item() == 1.5
        assert torch.count_nonzero(gf) == 2 and torch.count_nonzero(gi) == 1
        # Exactly on x = -1 (y = 1): the cell [-1, 0], whose tap on column 0 has weight
        # 0 and d out/dqx = +2 (a grows); nothing is splatted.
        flow[0, :, 0, 0] = torch.tensor([-1.0, 1.0], dtype=torch.float64)
        g[0, 0, 1, 0] = 0.25
        out, gi, gf = (
            t.cpu()
            for t in self.run(backend, convert((input, flow, None, "sum"), backend.device), g.to(backend.device))
        )
        assert torch.count_nonzero(out) == 0
        assert gf[0, :, 0, 0].tolist() == [0.5, 0.0] and gi[0, 0, 0, 0].item() == 0.0
        assert torch.count_nonzero(gf) == 1 and torch.count_nonzero(gi) == 0

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_non_finite_and_far_flows_drop_the_source(self, backend, mode, dtype):
        B, C, H, W = 2, 3, 24, 30
        flow = sprinkle_non_finite(smooth_flow(B, H, W, 4.0, dtype=dtype), 0.3)
        dropped = ~torch.isfinite(flow).all(dim=1, keepdim=True) | (flow.abs() > 1e3).any(dim=1, keepdim=True)
        input = torch.randn(B, C, H, W, dtype=dtype)
        metric = make_metric(mode, B, H, W, dtype=dtype)
        args = convert((input, flow, metric, mode), backend.device)
        result = [t.cpu() for t in self.run(backend, args)]
        for t in result:
            assert torch.isfinite(t).all()
        for grad in result[1:]:  # input, flow, metric: zero where the source is dropped
            assert (grad.masked_select(dropped.expand_as(grad)) == 0).all()
        # Dropping is the same as sending those pixels far away.
        far = torch.where(dropped, torch.full_like(flow, 1e6), flow)
        torch.testing.assert_close(result[0], splat(backend, input, far, metric, mode)[0])

    @pytest.mark.parametrize("mode", METRIC_MODES)
    def test_huge_and_tiny_metrics_float32(self, backend, mode):
        # float32 metrics of 1000 ("soft", where exp overflows past 88) or 1e37 and
        # 1e-37 ("linear") give the result of the same metric shifted (scaled) to
        # ordinary values, computed in float64.
        B, C, H, W = 2, 3, 14, 18
        input = torch.randn(B, C, H, W)
        flow = (smooth_flow(B, H, W, 3.0) * 64).round() / 64  # targets and weights exact in float32
        base = make_metric(mode, B, H, W, dtype=torch.float32)
        g = torch.randn(B, C, H, W)
        variants = (
            [(base + 1000, 1000.0), (base - 1000, -1000.0)]
            if mode == "soft"
            else [(base * 1e37, 1e37), (base * 1e-37, 1e-37)]
        )
        for metric, k in variants:
            ours = self.run(backend, convert((input, flow, metric, mode), backend.device), g.to(backend.device))
            # The float64 equivalent of the float32 metric actually used.
            plain = metric.double() - k if mode == "soft" else metric.double() / k
            want = self.run(
                backend,
                convert((input, flow, plain, mode), backend.device, torch.float64),
                g.double().to(backend.device),
            )
            for t in ours:
                assert torch.isfinite(t).all()
            scale = 1.0 if mode == "soft" else k  # d/dZ of Z / k
            got = [ours[0], ours[1], ours[2], ours[3] * scale]
            assert_all_close([t.double() for t in got], want, rtol=2e-5, atol=2e-5)

    def test_huge_metrics_float64(self, backend):
        input, flow = torch.randn(1, 2, 10, 12, dtype=torch.float64), smooth_flow(1, 10, 12, 2.0, dtype=torch.float64)
        metric = torch.randn(1, 1, 10, 12, dtype=torch.float64)
        want = splat(backend, input, flow, metric, "soft")[0]
        for shift in (1e4, -1e4, 5e5):
            got = splat(backend, input, flow, metric + shift, "soft")[0]
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
        got = splat(backend, input, flow, metric.exp() * 1e300, "linear")[0]
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)

    @pytest.mark.parametrize("mode", NORMALIZED)
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_normalized_constant_image_stays_constant(self, backend, mode, dtype):
        # Wherever something landed the output is the constant; elsewhere 0. A power
        # of two scales every sum exactly, so it comes back exactly.
        B, C, H, W = 2, 2, 30, 40
        flow = smooth_flow(B, H, W, 12.0, dtype=dtype)
        metric = make_metric(mode, B, H, W, dtype=dtype)
        for value, tol in ((0.5, 0.0), (0.7310585786, 32 * torch.finfo(dtype).eps)):
            input = torch.full((B, C, H, W), value, dtype=dtype)
            out, den, _ = splat(backend, input, flow, metric, mode)
            landed = (den > 0).expand_as(out)
            assert 0.3 < landed.float().mean() < 1.0
            torch.testing.assert_close(out[landed], torch.full_like(out[landed], value), rtol=tol, atol=0)
            assert (out[~landed] == 0).all()

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_sum_conserves_what_lands_inside(self, backend, dtype):
        # Each source gives away its value times the fraction of its weight that
        # falls on taps inside: 1 for a target in [0, W-1] x [0, H-1], qx + 1 in
        # (-1, 0), W - qx in (W-1, W) (likewise in y), 0 beyond.
        B, C, H, W = 2, 3, 20, 24
        flow = smooth_flow(B, H, W, 3.0, dtype=torch.float64)
        flow[0, :, :3, :3] = 1e30
        input = torch.randn(B, C, H, W, dtype=torch.float64)
        qx = flow[:, 0] + torch.arange(W, dtype=torch.float64)
        qy = flow[:, 1] + torch.arange(H, dtype=torch.float64).view(H, 1)

        def inside_fraction(q, n):
            return torch.where(
                (q >= 0) & (q <= n - 1),
                1.0,
                torch.where((q > -1) & (q < 0), q + 1, torch.where((q > n - 1) & (q < n), n - q, 0.0)),
            )

        fraction = inside_fraction(qx, W) * inside_fraction(qy, H)
        assert 0.5 < (fraction == 1).float().mean() < 1 and ((fraction > 0) & (fraction < 1)).any()
        want = (input * fraction.unsqueeze(1)).sum((2, 3))
        out = splat(backend, input.to(dtype), flow.to(dtype), None, "sum")[0]
        tol = 1e-12 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(out.double().sum((2, 3)), want, rtol=tol, atol=tol)

    def test_den_and_metric_max(self, backend):
        B, H, W = 3, 10, 12
        flow = smooth_flow(B, H, W, 6.0, dtype=torch.float64)
        flow[2] = 1e6  # nothing of item 2 lands
        input = torch.randn(B, 2, H, W, dtype=torch.float64)
        metric = torch.randn(B, 1, H, W, dtype=torch.float64) * 3
        qx = flow[:, :1] + torch.arange(W, dtype=torch.float64)
        qy = flow[:, 1:] + torch.arange(H, dtype=torch.float64).view(H, 1)
        lands = (qx >= -1) & (qx < W) & (qy >= -1) & (qy < H)
        metric[0, 0, 0, 0], flow[0, :, 0, 0] = 1e3, 1e6  # the largest metric does not land
        out, den, metric_max = splat(backend, input, flow, metric, "soft")
        lands[0, 0, 0, 0] = False
        for b in range(2):
            assert metric_max[b] == metric[b][lands[b]].max()
        assert metric_max[2] == -math.inf and (den[2] == 0).all() and (out[2] == 0).all()
        assert den.shape == (B, 1, H, W) and (den >= 0).all()
        _, den_avg, zeros = splat(backend, input, flow, None, "avg")
        assert (zeros == 0).all()
        # The weights of a source sum to the fraction of it that lands inside.
        assert den_avg[0].sum() <= lands[0].sum() + 1e-9 and den_avg[0].sum() > 0.5 * lands[0].sum()

    @pytest.mark.parametrize("mode", MODES)
    def test_any_thread_count_bitwise_with_scattered_targets(self, cpu_backend, mode):
        # Sources jump across the whole image, so every band takes contributions
        # from every source row; each pixel still sums them in source order.
        g = torch.Generator().manual_seed(3)
        B, C, H, W = 2, 3, 23, 17
        args = (
            torch.randn(B, C, H, W, dtype=torch.float64, generator=g),
            torch.randn(B, 2, H, W, dtype=torch.float64, generator=g) * 12,
            make_metric(mode, B, H, W, generator=g),
            mode,
        )
        results = []
        for threads in (1, 2, 3, 4, 7):
            with num_threads(threads):
                results.append(self.run(cpu_backend, args))
        for result in results[1:]:
            for a, b in zip(result, results[0]):
                assert torch.equal(a, b)

    @pytest.mark.parametrize("mode", MODES)
    def test_non_finite_pixels_reach_only_their_targets(self, backend, mode):
        # An inf or NaN source value reaches the pixels its own taps land on, as
        # IEEE arithmetic has it (the reference's values), and nothing else: a tap
        # that is dropped (outside the image, or in another thread's rows) adds
        # nothing anywhere (it once added 0 * inf = NaN to a kept tap's pixel, on
        # the CPU, for some thread counts only).
        g = torch.Generator().manual_seed(5)
        B, C, H, W = 1, 2, 9, 8
        input = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
        input[0, 0, 0, 0] = float("inf")
        input[0, 1, 4, W - 1] = -float("inf")
        input[0, 1, H - 1, 2] = float("nan")
        flow = torch.randn(B, 2, H, W, dtype=torch.float64, generator=g) * 0.7
        flow[0, :, 4, W - 1] = torch.tensor([0.5, 0.5], dtype=torch.float64)  # right taps outside
        flow[0, :, 0, 0] = torch.tensor([0.25, 0.0], dtype=torch.float64)
        flow[0, :, 3:6, 3:5] = torch.tensor([0.0, 0.5], dtype=torch.float64).view(2, 1, 1)  # across band edges
        args = convert((input, flow, make_metric(mode, B, H, W, generator=g), mode), backend.device)
        want = reference.softsplat(*[a.cpu() if torch.is_tensor(a) else a for a in args])
        counts = (1, 2, 3, 4) if backend.name == "cpu" else (torch.get_num_threads(),)
        for threads in counts:
            with num_threads(threads):
                got = self.call(backend.ops, *args)
            torch.testing.assert_close(got.cpu(), want, equal_nan=True, msg=lambda m: f"{threads} threads: {m}")
            assert torch.isfinite(got[0, 0, 5:, :5]).all()  # far from the bad pixels

    def test_raw_op_raises_under_deterministic_mode(self, gpu_backend):
        # The CUDA forward accumulates with atomics and says so.
        args = convert(self.cases()[0], gpu_backend.device, torch.float32)
        with DeterministicAlgorithms():
            with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
                gpu_backend.ops.softsplat(*args)

    def test_bad_backward_inputs(self, backend):
        d = backend.device
        input, flow, metric = (
            torch.randn(1, 3, 6, 6, device=d),
            torch.randn(1, 2, 6, 6, device=d),
            torch.randn(1, 1, 6, 6, device=d),
        )
        out, den, metric_max = backend.ops.softsplat(input, flow, metric, "soft")
        backward = backend.ops.softsplat_backward
        mask = [True, True, True]
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 6, 6\]"):
            backward(out[..., :5], input, flow, metric, "soft", out, den, metric_max, mask)
        with pytest.raises(ValueError, match=r"expected den of shape \[1, 1, 6, 6\]"):
            backward(out, input, flow, metric, "soft", out, den[..., :5], metric_max, mask)
        with pytest.raises(TypeError, match=r"expected den of dtype Float"):
            backward(out, input, flow, metric, "soft", out, den.double(), metric_max, mask)
        with pytest.raises(ValueError, match=r"expected metric_max of shape \[1\]"):
            backward(out, input, flow, metric, "soft", out, den, metric_max.view(1, 1), mask)
        with pytest.raises(ValueError, match=r"expected metric to be None for mode 'avg'"):
            backward(out, input, flow, metric, "avg", out, den, metric_max, mask)


def test_deterministic_fallback_computes_the_same():
    # On CUDA under deterministic mode the function switches to this fallback
    # (the reference, in float for float16/bfloat16); it runs on CPU tensors too.
    fallback = sys.modules["vfi_ops.softsplat"]._deterministic_fallback
    input = torch.randn(2, 3, 20, 24, dtype=torch.float64)
    flow = smooth_flow(2, 20, 24, 4.0, dtype=torch.float64)
    g = torch.randn(2, 3, 20, 24, dtype=torch.float64)
    for mode in MODES:
        metric = make_metric(mode, 2, 20, 24)
        tensors = [t for t in (input, flow, metric) if t is not None]

        def grads(fn):
            args = [t.clone().requires_grad_() for t in tensors]
            out = fn(args[0], args[1], args[2] if metric is not None else None, mode)
            return (out.detach(),) + torch.autograd.grad(out, args, g)

        assert_all_close(grads(fallback), grads(vfi_ops.softsplat), rtol=1e-9, atol=1e-9)
    half = fallback(input.half(), flow.half(), metric.half(), "soft")
    assert half.dtype == torch.float16
    torch.testing.assert_close(
        half.double(),
        vfi_ops.softsplat(input.half().double(), flow.half().double(), metric.half().double(), "soft"),
        rtol=2e-3,
        atol=2e-3,
    )
    with pytest.raises(ValueError, match=r"metric of shape \[2, 1, 20, 24\]"):
        fallback(input, flow, metric[:1], "soft")


@pytest.mark.cuda
def test_cuda_deterministic_mode_falls_back_to_the_reference():
    input, flow = torch.randn(1, 3, 40, 50, device="cuda"), smooth_flow(1, 40, 50, 5.0, device="cuda")
    metric = torch.randn(1, 1, 40, 50, device="cuda")

    def grads():
        args = [t.clone().requires_grad_() for t in (input, flow, metric)]
        out = vfi_ops.softsplat(*args, "soft")
        return (out.detach(),) + torch.autograd.grad(out, args, torch.ones_like(out))

    with DeterministicAlgorithms():
        first, second = grads(), grads()
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    assert_all_close(first, grads(), rtol=1e-4, atol=1e-4)


def test_public_function_and_module():
    input, flow, metric = torch.randn(1, 3, 12, 12), smooth_flow(1, 12, 12, 3.0), torch.randn(1, 1, 12, 12)
    torch.testing.assert_close(
        vfi_ops.softsplat(input, flow, metric), torch.ops.vfi_ops.softsplat(input, flow, metric, "soft")[0]
    )
    splat_module = vfi_ops.nn.SoftSplat("linear")
    assert "mode='linear'" in repr(splat_module)
    torch.testing.assert_close(
        splat_module(input, flow, metric.exp()), vfi_ops.softsplat(input, flow, metric.exp(), "linear")
    )
    torch.testing.assert_close(vfi_ops.nn.SoftSplat("avg")(input, flow), vfi_ops.softsplat(input, flow, None, "avg"))
    with pytest.raises(ValueError, match="mode must be one of"):
        vfi_ops.nn.SoftSplat("max")
    with pytest.raises(ValueError, match="mode 'soft' needs a metric"):
        vfi_ops.softsplat(input, flow)


def test_torch_compile_with_the_public_function():
    # Forward-warp both frames to t = 0.5 and blend, as softmax-splatting VFI does.
    def loss_fn(frame0, frame1, flow01, flow10, metric0, metric1):
        warped0 = vfi_ops.softsplat(frame0, 0.5 * flow01, metric0, "soft")
        warped1 = vfi_ops.softsplat(frame1, 0.5 * flow10, metric1, "soft")
        return (warped0 - warped1).square().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    frames = [torch.rand(2, 3, 16, 16) for _ in range(2)]
    flows = [smooth_flow(2, 16, 16, 3.0).requires_grad_() for _ in range(2)]
    metrics = [torch.randn(2, 1, 16, 16).requires_grad_() for _ in range(2)]
    inputs = frames + flows + metrics
    grads = torch.autograd.grad(compiled(*inputs), flows + metrics)
    grads_ref = torch.autograd.grad(loss_fn(*inputs), flows + metrics)
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
    input = torch.rand(1, 1, h, w, device="cuda")
    local = torch.tensor([[0.25, 0.5], [1.5, -0.75]], device="cuda")
    flow[0, :, h - 3, w - 3] = local[0]
    flow[0, :, h - 2, w - 3] = local[1]
    out = vfi_ops.softsplat(input, flow, None, "avg")
    small = torch.full((1, 2, 3, 3), 1e7, device="cuda")
    small[0, :, 0, 0] = local[0]
    small[0, :, 1, 0] = local[1]
    torch.testing.assert_close(
        out[..., -3:, -3:], vfi_ops.softsplat(input[..., -3:, -3:].contiguous(), small, None, "avg")
    )
    assert torch.count_nonzero(out[..., :-3, :]) == 0
    del flow, out
