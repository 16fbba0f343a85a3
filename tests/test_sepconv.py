import pytest
import torch

import vfi_ops
from helpers import DeterministicAlgorithms
from op_tester import OpTester, convert
from vfi_ops import reference


def make(B, C, H, W, K, g=None, scale=1.0, dtype=torch.float64):
    """Input padded for kernel size K, and random vertical and horizontal kernels."""
    g = g or torch.Generator().manual_seed(0)
    input = torch.randn(B, C, H + K - 1, W + K - 1, dtype=dtype, generator=g)
    vertical = scale * torch.randn(B, K, H, W, dtype=dtype, generator=g)
    horizontal = scale * torch.randn(B, K, H, W, dtype=dtype, generator=g)
    return input, vertical, horizontal


def random_case(seed):
    """Random sizes and kernel sizes (1 to 9, and now and then SepConv's 51)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    K = 51 if seed % 10 == 7 else r(1, 9)
    B, C, H, W = r(1, 2), r(1, 4), r(1, 9), r(1, 9)
    return make(B, C, H, W, K, g, scale=1.0 / K)


def one_hot(B, K, H, W, index):
    t = torch.zeros(B, K, H, W, dtype=torch.float64)
    t[:, index] = 1.0
    return t


class TestSepconv(OpTester):
    op = "sepconv"

    def reference(self, input, vertical, horizontal):
        return reference.sepconv(input, vertical, horizontal)

    def cases(self):
        typical = make(2, 3, 10, 12, 5)
        several_tasks = make(2, 3, 24, 20, 5)  # rows of 3 * 20 * 25 taps: several tasks for 2-3 threads
        return [random_case(0), typical, several_tasks] + [random_case(seed) for seed in range(1, 40)]

    def gradcheck_cases(self):
        return [make(1, 2, 4, 5, K) for K in (1, 2, 4)] + [make(2, 1, 3, 2, 3)]

    def empty_cases(self):
        return [make(*shape, K=3) for shape in [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)]]

    def backward_args(self, ops, args, grad_output, output_mask):
        return (grad_output,) + tuple(args) + (output_mask,)

    def bad_inputs(self, backend):
        d = backend.device

        def inputs(B=1, C=3, H=6, W=7, K=3, **over):
            t = {
                "input": torch.randn(B, C, H + K - 1, W + K - 1, device=d),
                "vertical": torch.randn(B, K, H, W, device=d),
                "horizontal": torch.randn(B, K, H, W, device=d),
            }
            t.update(over)
            return t["input"], t["vertical"], t["horizontal"]

        rand = lambda *shape, **kw: torch.randn(*shape, device=d, **kw)
        bad = [
            (inputs(input=rand(3, 8, 9)), ValueError, r"input of shape \[B, C, H\+K-1, W\+K-1\]"),
            (inputs(vertical=rand(3, 6, 7)), ValueError, r"vertical of shape \[B, K, H, W\]"),
            (inputs(horizontal=rand(1, 3, 6)), ValueError, r"horizontal of shape \[B, K, H, W\]"),
            # The input is not padded by K-1 for this K.
            (inputs(input=rand(1, 3, 6, 7)), ValueError, r"input of shape \[1, C, 8, 9\] \(H\+K-1, W\+K-1"),
            (inputs(input=rand(1, 3, 8, 10)), ValueError, r"input of shape \[1, C, 8, 9\]"),
            (inputs(input=rand(2, 3, 8, 9)), ValueError, r"vertical of shape \[2, K, H, W\]"),
            # The two kernels disagree (size, batch, pixels).
            (inputs(horizontal=rand(1, 5, 6, 7)), ValueError, r"horizontal of shape \[1, 3, 6, 7\]"),
            (inputs(horizontal=rand(1, 3, 6, 6)), ValueError, r"horizontal of shape \[1, 3, 6, 7\]"),
            (inputs(vertical=rand(1, 0, 6, 7), horizontal=rand(1, 0, 6, 7)), ValueError, r"K >= 1"),
            (inputs(vertical=rand(1, 3, 6, 7, dtype=torch.float64)), TypeError, r"vertical to have the dtype of input"),
            (inputs(horizontal=rand(1, 3, 6, 7).half()), TypeError, r"horizontal to have the dtype of input"),
            (inputs(input=torch.randint(0, 5, (1, 3, 8, 9), device=d)), TypeError, r"input to be a floating-point"),
            (inputs(vertical=torch.randn(1, 3, 6, 7, device="meta")), ValueError, r"vertical on the same device"),
        ]
        if backend.name == "cpu":
            bad.append(
                ((rand(1, 3, 8, 9).half(), rand(1, 3, 6, 7).half(), rand(1, 3, 6, 7).half()), TypeError, r"CPU kernels")
            )
        return bad

    # ---------------------------------------------------------------- sepconv only

    def test_one_hot_kernels_pick_one_input_pixel(self, backend):
        # vertical = e_i, horizontal = e_j: out[y, x] = input[y+i, x+j], exactly,
        # and the input gradient puts g back there; K = 1, 4 and SepConv's 51.
        for K, i, j in [(1, 0, 0), (4, 1, 3), (51, 25, 25), (51, 0, 50)]:
            B, C, H, W = 1, 2, 3, 4
            input = torch.randn(B, C, H + K - 1, W + K - 1, dtype=torch.float64)
            args = (input, one_hot(B, K, H, W, i), one_hot(B, K, H, W, j))
            g = torch.randn(B, C, H, W, dtype=torch.float64)
            out, gi, gv, gh = (t.cpu() for t in self.run(backend, convert(args, backend.device), g.to(backend.device)))
            assert torch.equal(out, input[:, :, i : i + H, j : j + W])
            want_gi = torch.zeros_like(input)
            want_gi[:, :, i : i + H, j : j + W] = g
            assert torch.equal(gi, want_gi)
            # d/dvertical[k] = sum_c g * input[y+k, x+j]; d/dhorizontal[k] = sum_c g * input[y+i, x+k].
            for k in (0, K // 2, K - 1):
                assert torch.equal(gv[:, k], (g * input[:, :, k : k + H, j : j + W]).sum(1))
                assert torch.equal(gh[:, k], (g * input[:, :, i : i + H, k : k + W]).sum(1))

    def test_hand_computed(self, backend):
        # One 3 x 3 window (H = W = 1, K = 3) holding 0..8 row by row; vertical
        # (1, 2, 0.5), horizontal (1, -1, 0.25): the row passes are
        # 0 - 1 + 0.5 = -0.5, 3 - 4 + 1.25 = 0.25, 6 - 7 + 2 = 1, and
        # out = 1 * -0.5 + 2 * 0.25 + 0.5 * 1 = 0.5.
        input = torch.arange(9, dtype=torch.float64).view(1, 1, 3, 3)
        vertical = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64).view(1, 3, 1, 1)
        horizontal = torch.tensor([1.0, -1.0, 0.25], dtype=torch.float64).view(1, 3, 1, 1)
        g = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
        out, gi, gv, gh = (
            t.cpu()
            for t in self.run(backend, convert((input, vertical, horizontal), backend.device), g.to(backend.device))
        )
        assert out.item() == 0.5
        assert gv.flatten().tolist() == [2 * -0.5, 2 * 0.25, 2 * 1.0]
        # Column passes sum_i v_i input[i, j]: 0 + 6 + 3 = 9, 1 + 8 + 3.5 = 12.5, 2 + 10 + 4 = 16.
        assert gh.flatten().tolist() == [2 * 9.0, 2 * 12.5, 2 * 16.0]
        assert torch.equal(gi[0, 0], 2 * vertical.view(3, 1) * horizontal.view(1, 3))

    def test_input_gradient_overlaps(self, backend):
        # K = 2, all-ones kernels, 1 x 2 output from a 2 x 3 input: the middle
        # column is in both windows (gradient g0 + g1), the outer ones in one.
        input = torch.randn(1, 1, 2, 3, dtype=torch.float64)
        ones = torch.ones(1, 2, 1, 2, dtype=torch.float64)
        g = torch.tensor([3.0, 5.0], dtype=torch.float64).view(1, 1, 1, 2)
        out, gi, _, _ = (t.cpu() for t in self.run(backend, convert((input, ones, ones), backend.device), g))
        torch.testing.assert_close(out[0, 0, 0], torch.stack([input[0, 0, :, :2].sum(), input[0, 0, :, 1:].sum()]))
        assert gi[0, 0].tolist() == [[3.0, 8.0, 5.0], [3.0, 8.0, 5.0]]

    def test_deterministic_mode_allows_every_gradient(self, backend):
        # No atomics anywhere: every backend runs under deterministic mode, bitwise repeatably.
        args = convert(self.cases()[1], backend.device)
        with DeterministicAlgorithms():
            first = self.run(backend, args)
            second = self.run(backend, args)
        for a, b in zip(first, second):
            assert torch.equal(a, b)

    def test_bad_grad_output(self, backend):
        d = backend.device
        input, vertical, horizontal = make(1, 3, 6, 7, 3)
        args = convert((input, vertical, horizontal), d)
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 3, 6, 7\]"):
            backend.ops.sepconv_backward(
                torch.randn(1, 3, 8, 9, device=d, dtype=torch.float64), *args, [True, True, True]
            )


def test_public_function_and_module():
    input, vertical, horizontal = random_case(3)
    want = torch.ops.vfi_ops.sepconv(input, vertical, horizontal)
    torch.testing.assert_close(vfi_ops.sepconv(input, vertical, horizontal), want)
    torch.testing.assert_close(vfi_ops.nn.SepConv()(input, vertical, horizontal), want)


def test_rowwise_reference_is_the_unfold_reference():
    args = make(2, 3, 5, 6, 7)
    args = (args[0].transpose(2, 3).contiguous().transpose(2, 3),) + args[1:]
    torch.testing.assert_close(reference.sepconv_rowwise(*args), reference.sepconv(*args), rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_64bit_indexing():
    # An input of more than 2^31 elements takes the 64-bit index path; check its far corner.
    C, h, w, K = 9, 15500, 15500, 3
    if torch.cuda.get_device_properties(0).total_memory < 40 * 2**30:
        pytest.skip("needs 40 GiB of GPU memory")
    input = torch.zeros(1, C, h + K - 1, w + K - 1, device="cuda")
    corner = torch.randn(1, C, 6 + K - 1, 6 + K - 1, device="cuda")
    input[..., -(6 + K - 1) :, -(6 + K - 1) :] = corner
    vertical = torch.rand(1, K, h, w, device="cuda")
    horizontal = torch.rand(1, K, h, w, device="cuda")
    out = vfi_ops.sepconv(input, vertical, horizontal)
    want = vfi_ops.sepconv(corner, vertical[..., -6:, -6:].contiguous(), horizontal[..., -6:, -6:].contiguous())
    torch.testing.assert_close(out[..., -6:, -6:], want)
    del input, vertical, horizontal, out
