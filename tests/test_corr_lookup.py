import doctest
import math
import sys

import pytest
import torch
import torch.nn.functional as F

import vfi_ops
from helpers import sprinkle_non_finite
from op_tester import OpTester, convert
from vfi_ops import reference


def random_case(seed):
    """Random sizes (1-pixel maps too), radii and positions of several kinds:
    inside, far out, non-finite, on integers (on the edges too)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W, H2, W2, radius = r(1, 2), r(1, 9), r(1, 6), r(1, 6), r(1, 7), r(1, 7), r(0, 3)
    fmap1 = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
    fmap2 = torch.randn(B, C, H2, W2, dtype=torch.float64, generator=g)
    size = torch.tensor([W2, H2], dtype=torch.float64).view(1, 2, 1, 1)
    coords = torch.rand(B, 2, H, W, dtype=torch.float64, generator=g) * (size + 2 * radius + 4) - radius - 2
    kind = seed % 4
    if kind == 1:
        coords = sprinkle_non_finite(coords, 0.2)
    if kind == 2:
        coords = coords.round()
    if kind == 3:
        coords = coords * 1e6
    return fmap1, fmap2, coords, radius


class TestCorrLookup(OpTester):
    op = "corr_lookup"
    grad_rtol = 1e-11
    thread_bitwise = False  # the CPU fmap2 gradient adds per-thread partial sums
    cuda_forward_atomic = False

    def reference(self, fmap1, fmap2, coords, radius):
        return reference.corr_lookup(fmap1, fmap2, coords, radius)

    def cases(self):
        rand = lambda *shape: torch.randn(*shape, dtype=torch.float64)
        typical = (rand(2, 8, 6, 7), rand(2, 8, 9, 8), 3 * rand(2, 2, 6, 7) + 3, 2)
        many_rows = (rand(1, 4, 12, 5), rand(1, 4, 10, 6), 2 * rand(1, 2, 12, 5) + 4, 1)
        return [typical, typical[:3] + (3,), many_rows] + [random_case(seed) for seed in range(32)]

    def gradcheck_cases(self):
        def off_integer(B, H, W, H2, W2):
            size = torch.tensor([W2, H2]).view(1, 2, 1, 1)
            base = torch.randint(-3, 1, (B, 2, H, W)) + (torch.rand(B, 2, H, W) * (size + 3)).floor()
            return base.double() + 0.5 + 0.6 * (torch.rand(B, 2, H, W, dtype=torch.float64) - 0.5)

        rand = lambda *shape: torch.randn(*shape, dtype=torch.float64)
        return [
            (rand(2, 3, 3, 4), rand(2, 3, 5, 4), off_integer(2, 3, 4, 5, 4), 1),
            (rand(1, 2, 2, 2), rand(1, 2, 1, 1), off_integer(1, 2, 2, 1, 1), 2),
        ]

    def empty_cases(self):
        return [
            (torch.randn(B, C, H, W), torch.randn(B, C, 4, 5), torch.randn(B, 2, H, W), 2)
            for B, C, H, W in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        fmap1, fmap2, coords, radius = args
        return grad_output, fmap1, fmap2, coords, radius, output_mask

    def bad_inputs(self, backend):
        dev = backend.device
        rand = lambda *shape, **kw: torch.randn(*shape, device=dev, **kw)
        f1, f2, c = rand(1, 3, 4, 5), rand(1, 3, 6, 7), rand(1, 2, 4, 5)
        bad = [
            ((rand(3, 4, 5), f2, c, 1), ValueError, r"corr_lookup\(\): expected fmap1 of shape \[B, C, H, W\]"),
            ((f1, rand(1, 4, 6, 7), c, 1), ValueError, r"fmap2 of shape \[1, 3, H2, W2\]"),
            ((f1, rand(2, 3, 6, 7), c, 1), ValueError, r"fmap2 of shape \[1, 3, H2, W2\]"),
            ((f1, f2, rand(1, 2, 4, 6), 1), ValueError, r"coords of shape \[1, 2, 4, 5\]"),
            ((f1, f2, rand(1, 3, 4, 5), 1), ValueError, r"coords of shape \[1, 2, 4, 5\]"),
            ((f1, f2, rand(2, 4, 5), 1), ValueError, r"coords of shape \[B, 2, H, W\]"),
            ((f1, f2, c, -1), ValueError, r"radius >= 0, but got -1"),
            ((f1, f2, c, 1 << 20), ValueError, r"radius <= 16384"),
            ((f1, rand(1, 3, 0, 7), c, 1), ValueError, r"non-empty spatial size"),
            ((f1, f2.double(), c, 1), TypeError, r"fmap2 to have the dtype of fmap1"),
            ((f1, f2, c.double(), 1), TypeError, r"coords to have the dtype of fmap1"),
            ((f1.long(), f2.long(), c.long(), 1), TypeError, r"fmap1 to be a floating-point"),
            ((f1, f2, torch.randn(1, 2, 4, 5, device="meta"), 1), ValueError, r"coords on the same device"),
        ]
        if backend.name == "cpu":
            bad.append(((f1.half(), f2.half(), c.half(), 1), TypeError, r"CPU kernels support float32 and float64"))
        return bad

    # ---------------------------------------------------------------- corr_lookup only

    def test_exact_positions(self, backend):
        # One channel: fmap1 = 1, fmap2 the row [1, 2, 4, 8]; the samples are fmap2
        # itself. Radius 0: (x, value, d value / dx) by hand.
        row = torch.tensor([[[[1.0, 2.0, 4.0, 8.0]]]], dtype=torch.float64)
        cases = [
            (2.0, 4.0, 4.0),  # integer: the cell to the right
            (0.0, 1.0, 1.0),
            (1.5, 3.0, 2.0),
            (3.0, 8.0, -8.0),  # the last column: its right tap counts 0
            (-1.0, 0.0, 1.0),  # the cell [-1, 0]: weight 0 on column 0, its slope
            (3.0 + 2.0**-40, 8.0 * (1 - 2.0**-40), -8.0),
            (4.0, 0.0, 0.0),
            (-1.0 - 2.0**-40, 0.0, 0.0),
            (float("nan"), 0.0, 0.0),
            (float("inf"), 0.0, 0.0),
            (-float("inf"), 0.0, 0.0),
            (1e30, 0.0, 0.0),
        ]
        xs, values, slopes = (torch.tensor(c, dtype=torch.float64) for c in zip(*cases))
        N = len(xs)
        coords = torch.zeros(1, 2, 1, N, dtype=torch.float64)
        coords[0, 0, 0] = xs
        args = convert((torch.ones(1, 1, 1, N, dtype=torch.float64), row, coords, 0), backend.device)
        out, g1, g2, gc = (t.cpu() for t in self.run(backend, args, torch.ones(1, 1, 1, N, dtype=torch.float64)))
        torch.testing.assert_close(out[0, 0, 0], values, rtol=0, atol=0)
        torch.testing.assert_close(gc[0, 0, 0], slopes, rtol=0, atol=0)
        # y = 0 on a 1-row map is its last row: the row below counts 0 (d/dy = -value).
        torch.testing.assert_close(gc[0, 1, 0], -values, rtol=0, atol=0)
        torch.testing.assert_close(g1[0, 0, 0], values, rtol=0, atol=0)
        # fmap2's gradient: the weights landing on each column (non-finite and far pixels give nothing).
        want = torch.tensor([1.0 + 0.0, 0.5, 1.0 + 0.5, 1.0 + (1 - 2.0**-40)], dtype=torch.float64)
        torch.testing.assert_close(g2[0, 0, 0], want, rtol=0, atol=0)

    def test_window_on_integers_reads_whole_pixels(self, backend):
        # Integer coords: every sample is the dot product with one fmap2 pixel (or 0 outside).
        fmap1 = torch.randn(1, 5, 2, 3, dtype=torch.float64)
        fmap2 = torch.randn(1, 5, 3, 4, dtype=torch.float64)
        coords = torch.tensor([[[[0.0, 3.0, 1.0], [2.0, 0.0, 3.0]], [[0.0, 2.0, 1.0], [1.0, 2.0, 0.0]]]]).double()
        out = self.call(backend.ops, *convert((fmap1, fmap2, coords, 1), backend.device)).cpu()
        for y in range(2):
            for x in range(3):
                cx, cy = int(coords[0, 0, y, x]), int(coords[0, 1, y, x])
                for j in range(-1, 2):
                    for i in range(-1, 2):
                        u, v = cx + i, cy + j
                        inside = 0 <= u < 4 and 0 <= v < 3
                        want = (fmap1[0, :, y, x] * fmap2[0, :, v, u]).sum() if inside else 0.0
                        assert out[0, (j + 1) * 3 + (i + 1), y, x].item() == pytest.approx(float(want), abs=1e-14)

    def test_zero_features(self, backend):
        fmap2 = torch.randn(2, 3, 5, 6, dtype=torch.float64)
        coords = torch.rand(2, 2, 4, 4, dtype=torch.float64) * 5
        out = self.call(
            backend.ops, *convert((torch.zeros(2, 3, 4, 4, dtype=torch.float64), fmap2, coords, 2), backend.device)
        )
        assert torch.equal(out.cpu(), torch.zeros(2, 25, 4, 4, dtype=torch.float64))

    def test_raft_order_and_pyramid(self, backend):
        # RAFT's CorrBlock (all-pairs volume / sqrt(C), four average-pooled levels,
        # x offset slow) from the per-level lookup, as the docstring shows.
        g = torch.Generator().manual_seed(3)
        B, C, H, W, r = 2, 8, 16, 20, 3
        fmap1 = torch.randn(B, C, H, W, generator=g, dtype=torch.float64)
        fmap2 = torch.randn(B, C, H, W, generator=g, dtype=torch.float64)
        ys, xs = torch.meshgrid(torch.arange(H * 1.0), torch.arange(W * 1.0), indexing="ij")
        coords = torch.stack((xs, ys))[None].double() + 3 * torch.randn(B, 2, H, W, generator=g, dtype=torch.float64)
        n, levels, f2 = 2 * r + 1, [], fmap2
        for level in range(4):
            args = convert((fmap1 / math.sqrt(C), f2, coords / 2**level, r), backend.device)
            out = self.call(backend.ops, *args).cpu()
            levels.append(out.view(B, n, n, H, W).transpose(1, 2).reshape(B, n * n, H, W))
            f2 = F.avg_pool2d(f2, 2, stride=2)
        torch.testing.assert_close(torch.cat(levels, 1), reference.raft_corr_pyramid(fmap1, fmap2, coords, r))

    def test_docstring_examples(self):
        for name in ("vfi_ops.corr_lookup", "vfi_ops.correlation"):
            result = doctest.testmod(sys.modules[name])
            assert result.attempted > 0 and result.failed == 0, name

    def test_public_function_and_module(self):
        f1, f2, c = torch.randn(1, 3, 4, 5), torch.randn(1, 3, 6, 7), torch.rand(1, 2, 4, 5) * 6
        want = reference.corr_lookup(f1, f2, c, 2)
        torch.testing.assert_close(vfi_ops.corr_lookup(f1, f2, c, 2), want)
        module = vfi_ops.nn.CorrLookup(2)
        torch.testing.assert_close(module(f1, f2, c), want)
        assert "radius=2" in repr(module)
        with pytest.raises(ValueError, match="radius >= 0"):
            vfi_ops.nn.CorrLookup(-1)
        with pytest.raises(TypeError, match="coords to be a Tensor"):
            vfi_ops.corr_lookup(f1, f2, None, 2)
