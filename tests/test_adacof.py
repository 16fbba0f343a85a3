import math

import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms, sprinkle_non_finite
from op_tester import OpTester, convert
from vfi_ops import reference


def make(B, C, H, W, F, dilation=1, spread=1.5, g=None, truncate=False, dtype=torch.float64):
    """Padded input, weights and offsets (normal, times `spread` pixels)."""
    g = g or torch.Generator().manual_seed(0)
    pad = (F - 1) * dilation
    input = torch.randn(B, C, H + pad, W + pad, dtype=dtype, generator=g)
    weight = torch.randn(B, F * F, H, W, dtype=dtype, generator=g)
    offset_y = spread * torch.randn(B, F * F, H, W, dtype=dtype, generator=g)
    offset_x = spread * torch.randn(B, F * F, H, W, dtype=dtype, generator=g)
    return input, weight, offset_y, offset_x, dilation, truncate


def random_case(seed):
    """Random sizes, window and dilation, both rounding rules, and offsets of one
    of several kinds: small, beyond the input, far out, non-finite, integer, half-integer."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    F, d = r(1, 5), r(1, 3)
    kind = seed % 6
    input, weight, oy, ox, d, _ = make(
        r(1, 2), r(1, 3), r(1, 7), r(1, 7), F, d, [1.5, 8.0, 1e6, 2.0, 2.0, 2.0][kind], g, seed % 4 == 1
    )
    if kind == 3:
        oy, ox = sprinkle_non_finite(oy, 0.2), sprinkle_non_finite(ox, 0.2)
    if kind == 4:
        oy, ox = oy.round(), ox.round()
    if kind == 5:
        oy, ox = (2 * oy).round() / 2, (2 * ox).round() / 2
    return input, weight, oy, ox, d, seed % 4 == 1


def off_integer(t, g):
    """t moved to the nearest value whose fraction is in [0.2, 0.8] (finite differences stay in one cell)."""
    return t.floor() + 0.2 + 0.6 * torch.rand(t.shape, dtype=t.dtype, generator=g)


def original_rule(input, weight, offset_y, offset_x, dilation):
    """AdaCoF's published forward, transcribed loop by loop: A = (int) alpha
    (toward zero), rows A and A+1 (and columns) clamped into the input, fractions
    alpha - A of either sign."""
    B, C, Hin, Win = input.shape
    _, taps, H, W = weight.shape
    F = math.isqrt(taps)
    out = torch.zeros(B, C, H, W, dtype=input.dtype)
    clamp = lambda v, n: min(max(v, 0), n - 1)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                for k in range(F):
                    for m in range(F):
                        t = k * F + m
                        alpha, beta = offset_y[b, t, y, x].item(), offset_x[b, t, y, x].item()
                        A, Bx = int(alpha), int(beta)  # Python's int() truncates toward zero, as C's cast
                        fa, fb = alpha - A, beta - Bx
                        r0, r1 = clamp(y + k * dilation + A, Hin), clamp(y + k * dilation + A + 1, Hin)
                        c0, c1 = clamp(x + m * dilation + Bx, Win), clamp(x + m * dilation + Bx + 1, Win)
                        I = input[b, :]
                        out[b, :, y, x] += weight[b, t, y, x] * (
                            I[:, r0, c0] * (1 - fa) * (1 - fb)
                            + I[:, r1, c0] * fa * (1 - fb)
                            + I[:, r0, c1] * (1 - fa) * fb
                            + I[:, r1, c1] * fa * fb
                        )
    return out


class TestAdacof(OpTester):
    op = "adacof"
    thread_bitwise = False  # with few planes the CPU backward sums per-band copies of the input gradient

    def reference(self, input, weight, offset_y, offset_x, dilation, truncate):
        return reference.adacof(input, weight, offset_y, offset_x, dilation, truncate)

    def cases(self):
        typical = make(2, 3, 8, 10, 5, 1)
        few_planes = make(1, 2, 16, 12, 3, 2)
        return [random_case(0), typical, few_planes] + [random_case(seed) for seed in range(1, 40)]

    def gradcheck_cases(self):
        g = torch.Generator().manual_seed(1)
        cases = []
        for F, d, truncate, spread in [(1, 1, False, 1.5), (2, 2, False, 3.0), (3, 1, True, 1.5), (2, 1, False, 9.0)]:
            input, weight, oy, ox, d, truncate = make(1, 2, 3, 4, F, d, spread, g, truncate)
            cases.append((input, weight, off_integer(oy, g), off_integer(ox, g), d, truncate))
        return cases

    def empty_cases(self):
        return [make(*shape, F=3) for shape in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]]

    def backward_args(self, ops, args, grad_output, output_mask):
        return (grad_output,) + tuple(args) + (output_mask,)

    def output_masks(self, args):
        return [[True] * 4] + [[j == i for j in range(4)] for i in range(4)] + [[False, True, True, True]]

    def bad_inputs(self, backend):
        d = backend.device

        def inputs(B=1, C=3, H=6, W=7, F=3, dilation=1, **over):
            pad = (F - 1) * dilation
            t = {
                "input": torch.randn(B, C, H + pad, W + pad, device=d),
                "weight": torch.randn(B, F * F, H, W, device=d),
                "offset_y": torch.randn(B, F * F, H, W, device=d),
                "offset_x": torch.randn(B, F * F, H, W, device=d),
            }
            t.update(over)
            return t["input"], t["weight"], t["offset_y"], t["offset_x"], dilation, False

        rand = lambda *shape, **kw: torch.randn(*shape, device=d, **kw)
        bad = [
            (inputs(input=rand(3, 8, 9)), ValueError, r"input of shape \[B, C, H\+\(F-1\)\*dilation"),
            (inputs(weight=rand(9, 6, 7)), ValueError, r"weight of shape \[B, F\*F, H, W\]"),
            (inputs(offset_x=rand(9, 6, 7)), ValueError, r"offset_x of shape \[B, F\*F, H, W\]"),
            # A channel count that is not a square.
            (inputs(weight=rand(1, 8, 6, 7)), ValueError, r"weight to have F\*F channels"),
            (inputs(weight=rand(1, 0, 6, 7)), ValueError, r"weight to have F\*F channels"),
            # Offsets of another shape than the weight.
            (inputs(offset_y=rand(1, 4, 6, 7)), ValueError, r"offset_y of shape \[1, 9, 6, 7\]"),
            (inputs(offset_x=rand(1, 9, 6, 6)), ValueError, r"offset_x of shape \[1, 9, 6, 7\]"),
            (inputs(offset_x=rand(2, 9, 6, 7)), ValueError, r"offset_x of shape \[1, 9, 6, 7\]"),
            # Window and padding disagree (F, or the dilation).
            (inputs(input=rand(1, 3, 6, 7)), ValueError, r"input of shape \[1, C, 8, 9\] \(H\+\(F-1\)\*dilation"),
            (inputs(dilation=2, input=rand(1, 3, 8, 9)), ValueError, r"input of shape \[1, C, 10, 11\]"),
            (inputs(input=rand(2, 3, 8, 9)), ValueError, r"weight of shape \[2, F\*F, H, W\]"),
            (inputs(dilation=0, input=rand(1, 3, 6, 7)), ValueError, r"dilation to be a positive integer"),
            (inputs(dilation=-1), ValueError, r"dilation to be a positive integer"),
            (inputs(weight=rand(1, 9, 6, 7, dtype=torch.float64)), TypeError, r"weight to have the dtype of input"),
            (inputs(offset_y=rand(1, 9, 6, 7).half()), TypeError, r"offset_y to have the dtype of input"),
            (inputs(input=torch.randint(0, 5, (1, 3, 8, 9), device=d)), TypeError, r"input to be a floating-point"),
            (inputs(offset_x=torch.randn(1, 9, 6, 7, device="meta")), ValueError, r"offset_x on the same device"),
        ]
        if backend.name == "cpu":
            half = [t.half() if isinstance(t, torch.Tensor) else t for t in inputs()]
            bad.append((tuple(half), TypeError, r"CPU kernels support float32 and float64"))
        return bad

    # ---------------------------------------------------------------- adacof only

    def test_integer_offsets_pick_pixels(self, backend):
        # F = 2, dilation 3, zero offsets: out = w0 I[y, x] + w1 I[y, x+3] + w2 I[y+3, x] + w3 I[y+3, x+3];
        # integer offsets shift the tap exactly; both rounding rules agree there.
        input, weight, oy, ox, _, _ = make(2, 2, 4, 5, 2, 3)
        oy, ox = torch.zeros_like(oy), torch.zeros_like(ox)
        oy[:, 1], ox[:, 2] = -1.0, 2.0  # tap 1 reads (y-1, x+3), tap 2 reads (y+3, x+2), clamped into the input
        I = input
        rows = lambda r: r.clamp(0, I.shape[2] - 1)
        want = torch.zeros(2, 2, 4, 5, dtype=torch.float64)
        for y in range(4):
            for x in range(5):
                want[:, :, y, x] = (
                    weight[:, 0, y, x, None] * I[:, :, y, x]
                    + weight[:, 1, y, x, None] * I[:, :, rows(torch.tensor(y - 1)), x + 3]
                    + weight[:, 2, y, x, None] * I[:, :, y + 3, x + 2]
                    + weight[:, 3, y, x, None] * I[:, :, y + 3, x + 3]
                )
        for truncate in (False, True):
            out = self.call(backend.ops, *convert((input, weight, oy, ox, 3, truncate), backend.device)).cpu()
            torch.testing.assert_close(out, want, rtol=1e-14, atol=1e-14)

    def test_exact_positions(self, backend):
        # One row [1, 2, 4, 8] (H = 1, W = 4, F = 1), weight 2, g = 1, offsets x:
        # x = 0: -0.5, half a pixel outside: both taps are the border's, value 1, derivative 0;
        # x = 1: 0, on a pixel: value 2, the cell to the right, derivative 2 * (4 - 2);
        # x = 2: 0.5: value 0.5 * 4 + 0.5 * 8 = 6, derivative 2 * (8 - 4);
        # x = 3: 0, the last pixel: value 8, its cell to the right is the border's, derivative 0.
        input = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64).view(1, 1, 1, 4)
        weight = torch.full((1, 1, 1, 4), 2.0, dtype=torch.float64)
        ox = torch.tensor([[[[-0.5, 0.0, 0.5, 0.0]]]], dtype=torch.float64)
        oy = torch.zeros_like(ox)
        g = torch.ones(1, 1, 1, 4, dtype=torch.float64)
        out, gi, gw, goy, gox = (
            t.cpu() for t in self.run(backend, convert((input, weight, oy, ox, 1, False), backend.device), g)
        )
        assert out.flatten().tolist() == [2.0, 4.0, 12.0, 16.0]
        assert gw.flatten().tolist() == [1.0, 2.0, 6.0, 8.0]
        assert gox.flatten().tolist() == [0.0, 4.0, 8.0, 0.0]
        assert goy.flatten().tolist() == [0.0, 0.0, 0.0, 0.0]  # one row: both rows are the border's
        # Input gradient: weight times the tap weights (x = 0's two taps both land on pixel 0).
        assert gi.flatten().tolist() == [2.0, 2.0, 1.0, 1.0 + 2.0]

    def test_truncation_is_the_original_rule(self, backend):
        # truncate_offsets=True computes what AdaCoF's kernel does (transcribed
        # above); the default floor differs where an offset is negative and fractional.
        g = torch.Generator().manual_seed(5)
        input, weight, oy, ox, d, _ = make(1, 2, 5, 6, 3, 2, 2.5, g)
        want = original_rule(input, weight, oy, ox, d)
        ours = lambda truncate: self.call(backend.ops, *convert((input, weight, oy, ox, d, truncate), backend.device))
        torch.testing.assert_close(ours(True).cpu(), want, rtol=1e-12, atol=1e-12)
        assert (ours(False).cpu() - want).abs().max() > 1e-3
        # Non-negative offsets: the two rules are the same.
        oy, ox = oy.abs(), ox.abs()
        torch.testing.assert_close(ours(True).cpu(), ours(False).cpu(), rtol=0, atol=0)
        torch.testing.assert_close(ours(False).cpu(), original_rule(input, weight, oy, ox, d), rtol=1e-12, atol=1e-12)

    def test_truncation_extrapolates(self, backend):
        # Offset -0.25 at the middle of the row [1, 2, 4, 8] (x = 1, F = 1):
        # floor interpolates between pixels 0 and 1 (0.25 * 1 + 0.75 * 2 = 1.75),
        # truncation extrapolates from pixels 1 and 2 (1.25 * 2 - 0.25 * 4 = 1.5).
        input = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64).view(1, 1, 1, 4)
        weight = torch.ones(1, 1, 1, 4, dtype=torch.float64)
        ox = torch.zeros(1, 1, 1, 4, dtype=torch.float64)
        ox[..., 1] = -0.25
        oy = torch.zeros_like(ox)
        outs = [
            self.call(backend.ops, *convert((input, weight, oy, ox, 1, t), backend.device)).cpu()[0, 0, 0, 1].item()
            for t in (False, True)
        ]
        assert outs == [1.75, 1.5]

    def test_nan_offsets_sample_nothing(self, backend):
        input, weight, oy, ox, d, _ = make(1, 2, 4, 5, 2, 1)
        oy[0, 1, 2, 3] = float("nan")
        ox[0, 3, 0, 0] = float("nan")
        out, gi, gw, goy, gox = (
            t.cpu() for t in self.run(backend, convert((input, weight, oy, ox, d, False), backend.device))
        )
        for t in (out, gi, gw, goy, gox):
            assert torch.isfinite(t).all()
        assert gw[0, 1, 2, 3] == 0 and goy[0, 1, 2, 3] == 0 and gox[0, 1, 2, 3] == 0 and gw[0, 3, 0, 0] == 0
        # The same as a zero weight on those taps.
        w0 = weight.clone()
        w0[0, 1, 2, 3], w0[0, 3, 0, 0] = 0.0, 0.0
        clean_y, clean_x = oy.nan_to_num(0.0), ox.nan_to_num(0.0)
        want = self.call(backend.ops, *convert((input, w0, clean_y, clean_x, d, False), backend.device)).cpu()
        torch.testing.assert_close(out, want, rtol=0, atol=0)

    def test_deterministic_mode_raises_for_the_input_gradient_only(self, gpu_backend):
        input, weight, oy, ox, d, t = convert(self.cases()[1], gpu_backend.device)
        params = [p.requires_grad_() for p in (weight, oy, ox)]
        with DeterministicAlgorithms():
            with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
                self.call(gpu_backend.ops, input.requires_grad_(), *params, d, t).sum().backward()
            first = torch.autograd.grad(self.call(gpu_backend.ops, input.detach(), *params, d, t).sum(), params)
            second = torch.autograd.grad(self.call(gpu_backend.ops, input.detach(), *params, d, t).sum(), params)
        for a, b in zip(first, second):
            assert torch.equal(a, b)

    def test_bad_grad_output(self, backend):
        d = backend.device
        args = convert(make(1, 3, 6, 7, 3), d)
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 6, 7\]"):
            backend.ops.adacof_backward(torch.randn(1, 3, 8, 9, device=d, dtype=torch.float64), *args, [True] * 4)


def test_public_function_and_module():
    input, weight, oy, ox, d, t = random_case(2)
    want = torch.ops.vfi_ops.adacof(input, weight, oy, ox, d, t)
    torch.testing.assert_close(vfi_ops.adacof(input, weight, oy, ox, d, t), want)
    torch.testing.assert_close(vfi_ops.nn.AdaCoF(d, t)(input, weight, oy, ox), want)
    assert "dilation=" in repr(vfi_ops.nn.AdaCoF(2))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"dilation": 1.5}, TypeError, "expected dilation to be an int"),
        ({"dilation": True}, TypeError, "expected dilation to be an int"),
        ({"truncate_offsets": "yes"}, TypeError, "expected truncate_offsets to be a bool"),
    ],
)
def test_public_function_checks_its_options(kwargs, exc, match):
    input, weight, oy, ox, _, _ = make(1, 1, 3, 3, 2)
    with pytest.raises(exc, match=match):
        vfi_ops.adacof(input, weight, oy, ox, **kwargs)
