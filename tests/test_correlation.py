import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms
from op_tester import OpTester, convert
from vfi_ops import reference


def random_case(seed):
    """Random sizes (1-pixel ones too) and geometries: displacements up to beyond
    the image, strides and dilations that do and do not divide the size."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    B, C, H, W = r(1, 2), r(1, 6), r(1, 9), r(1, 9)
    d, s, k = r(0, 3), r(1, 3), r(1, 2)
    if seed % 7 == 0:
        d = max(H, W) + 1  # every displacement but a few reaches outside
    input1 = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
    input2 = torch.randn(B, C, H, W, dtype=torch.float64, generator=g)
    return input1, input2, d, s, k


class TestCorrelation(OpTester):
    op = "correlation"
    grad_rtol = 1e-11

    def reference(self, input1, input2, d, s, k):
        return reference.correlation(input1, input2, d, s, k)

    def cases(self):
        typical = (torch.randn(2, 8, 10, 12, dtype=torch.float64), torch.randn(2, 8, 10, 12, dtype=torch.float64), 3)
        return [
            typical + (1, 1),
            (torch.randn(1, 4, 9, 11, dtype=torch.float64), torch.randn(1, 4, 9, 11, dtype=torch.float64), 2, 2, 1),
            (torch.randn(2, 3, 13, 7, dtype=torch.float64), torch.randn(2, 3, 13, 7, dtype=torch.float64), 2, 1, 2),
        ] + [random_case(seed) for seed in range(30)]

    def gradcheck_cases(self):
        rand = lambda *shape: torch.randn(*shape, dtype=torch.float64)
        return [
            (rand(2, 3, 5, 6), rand(2, 3, 5, 6), 2, 1, 1),
            (rand(1, 2, 7, 5), rand(1, 2, 7, 5), 1, 2, 2),
            (rand(1, 2, 1, 1), rand(1, 2, 1, 1), 1, 1, 1),
        ]

    def empty_cases(self):
        return [
            (torch.randn(B, C, H, W), torch.randn(B, C, H, W), 2, 1, 1)
            for B, C, H, W in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        input1, input2, d, s, k = args
        return grad_output, input1, input2, d, s, k, output_mask

    def bad_inputs(self, backend):
        dev = backend.device
        rand = lambda *shape, **kw: torch.randn(*shape, device=dev, **kw)
        x = rand(1, 3, 8, 8)
        bad = [
            ((rand(3, 8, 8), x, 1, 1, 1), ValueError, r"correlation\(\): expected input1 of shape \[B, C, H, W\]"),
            ((x, rand(1, 4, 8, 8), 1, 1, 1), ValueError, r"input2 of the shape of input1"),
            ((x, rand(1, 3, 8, 9), 1, 1, 1), ValueError, r"input2 of the shape of input1"),
            ((x, rand(2, 3, 8, 8), 1, 1, 1), ValueError, r"input2 of the shape of input1"),
            ((x, x, -1, 1, 1), ValueError, r"max_displacement >= 0, but got -1"),
            ((x, x, 1, 0, 1), ValueError, r"stride >= 1, but got 0"),
            ((x, x, 1, 1, 0), ValueError, r"dilation >= 1, but got 0"),
            ((x, x, 1 << 20, 1, 1), ValueError, r"max_displacement \* dilation <= 16384"),
            ((x, x, 100, 1, 1000), ValueError, r"max_displacement \* dilation <= 16384"),
            ((x, x.double(), 1, 1, 1), TypeError, r"input2 to have the dtype of input1"),
            ((x.long(), x.long(), 1, 1, 1), TypeError, r"input1 to be a floating-point"),
            ((x, torch.randn(1, 3, 8, 8, device="meta"), 1, 1, 1), ValueError, r"input2 on the same device"),
        ]
        if backend.name == "cpu":
            bad.append(((x.half(), x.half(), 1, 1, 1), TypeError, r"CPU kernels support float32 and float64"))
        return bad

    # ---------------------------------------------------------------- correlation only

    def test_hand_computed(self, backend):
        # One channel, a 2 x 3 image: out[(j+1)*3 + (i+1), y, x] = a[y, x] * b[y+j, x+i].
        a = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]], dtype=torch.float64)
        b = torch.tensor([[[[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]]]], dtype=torch.float64)
        out = self.call(backend.ops, *convert((a, b, 1, 1, 1), backend.device)).cpu()
        assert out.shape == (1, 9, 2, 3)
        # Zero displacement: the products; right by one: b's next column (0 past the last).
        assert torch.equal(out[0, 4], a[0, 0] * b[0, 0])
        assert torch.equal(out[0, 5], torch.tensor([[20.0, 60.0, 0.0], [200.0, 300.0, 0.0]], dtype=torch.float64))
        # Down by one: row 1 of b for row 0 (the last row: exactly inside), 0 for row 1.
        assert torch.equal(out[0, 7], torch.tensor([[40.0, 100.0, 180.0], [0.0, 0.0, 0.0]], dtype=torch.float64))
        # Up-left: 0 on the first row and column.
        assert torch.equal(out[0, 0], torch.tensor([[0.0, 0.0, 0.0], [0.0, 50.0, 120.0]], dtype=torch.float64))
        # Two channels add; stride 2 samples columns 0 and 2 of input1.
        two = self.call(backend.ops, *convert((a.repeat(1, 2, 1, 1), b.repeat(1, 2, 1, 1), 1, 2, 1), backend.device))
        assert two.shape == (1, 9, 1, 2)
        assert torch.equal(two.cpu()[0, 4], 2 * torch.tensor([[10.0, 90.0]], dtype=torch.float64))
        # Dilation 2: the right neighbour is two columns away.
        dil = self.call(backend.ops, *convert((a, b, 1, 1, 2), backend.device)).cpu()
        assert torch.equal(dil[0, 5], torch.tensor([[30.0, 0.0, 0.0], [240.0, 0.0, 0.0]], dtype=torch.float64))

    def test_exact_gradients(self, backend):
        # The gradients of out.sum() by hand: input1's sampled pixels get the sum of
        # input2 over the displacements inside; input2's pixels the sum of input1
        # over the sampled pixels that reach them; unsampled input1 pixels get 0.
        a = torch.arange(1.0, 7.0, dtype=torch.float64).view(1, 1, 2, 3)
        b = torch.arange(10.0, 70.0, 10.0, dtype=torch.float64).view(1, 1, 2, 3)
        g = torch.ones(1, 9, 1, 2, dtype=torch.float64)
        _, ga, gb = (t.cpu() for t in self.run(backend, convert((a, b, 1, 2, 1), backend.device), g))
        # Sampled: (0, 0) reaches columns 0-1 of both rows, (0, 2) columns 1-2.
        assert torch.equal(ga, torch.tensor([[[[120.0, 0.0, 160.0], [0.0, 0.0, 0.0]]]], dtype=torch.float64))
        assert torch.equal(gb, torch.tensor([[[[1.0, 4.0, 3.0], [1.0, 4.0, 3.0]]]], dtype=torch.float64))

    def test_zero_features_and_far_displacements(self, backend):
        x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
        zero = torch.zeros_like(x)
        out = self.call(backend.ops, *convert((zero, x, 2, 1, 1), backend.device))
        assert torch.equal(out.cpu(), torch.zeros(2, 25, 3, 5, dtype=torch.float64))
        # A displacement larger than the image: only the zero displacement of a 1 x 1 map is inside.
        p = torch.randn(1, 3, 1, 1, dtype=torch.float64)
        q = torch.randn(1, 3, 1, 1, dtype=torch.float64)
        out = self.call(backend.ops, *convert((p, q, 5, 1, 1), backend.device)).cpu()
        want = torch.zeros(1, 121, 1, 1, dtype=torch.float64)
        want[0, 60] = (p * q).sum()
        assert torch.equal(out, want)

    def test_outside_values_do_not_leak(self, backend):
        # Displaced positions outside input2 contribute exactly 0 even where input1 is inf.
        a = torch.full((1, 1, 2, 2), float("inf"), dtype=torch.float64)
        b = torch.ones(1, 1, 2, 2, dtype=torch.float64)
        out = self.call(backend.ops, *convert((a, b, 1, 1, 1), backend.device)).cpu()
        assert torch.equal(out[0, 0], torch.tensor([[0.0, 0.0], [0.0, float("inf")]], dtype=torch.float64))

    def test_deterministic_on_every_backend(self, backend):
        args = convert(self.cases()[0], backend.device)
        with DeterministicAlgorithms():
            first, second = self.run(backend, args), self.run(backend, args)
        for x, y in zip(first, second):
            assert torch.equal(x, y)

    def test_public_function_and_module(self):
        a, b = torch.randn(1, 3, 6, 7), torch.randn(1, 3, 6, 7)
        want = reference.correlation(a, b, 2, 2, 1)
        torch.testing.assert_close(vfi_ops.correlation(a, b, 2, 2), want)
        module = vfi_ops.nn.Correlation(2, stride=2)
        torch.testing.assert_close(module(a, b), want)
        assert "max_displacement=2, stride=2, dilation=1" in repr(module)
        with pytest.raises(ValueError, match="max_displacement >= 0"):
            vfi_ops.nn.Correlation(-1)
        with pytest.raises(TypeError, match="stride to be an int"):
            vfi_ops.nn.Correlation(4, stride=1.5)
        with pytest.raises(TypeError, match="input2 to be a Tensor"):
            vfi_ops.correlation(a, None, 4)
