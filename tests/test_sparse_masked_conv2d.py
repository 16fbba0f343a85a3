import pytest
import torch
import torch.nn.functional as F

import vfi_ops
from helpers import DeterministicAlgorithms, assert_all_close
from op_tester import OpTester, convert
from vfi_ops import reference

op = vfi_ops.sparse_masked_conv2d


def output_size(H, W, k, stride, padding, dilation):
    kh, kw = k
    return (
        (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
        (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1,
    )


def random_case(seed, dtype=torch.float64, device="cpu"):
    """Random sizes, kernel (1, 3, 5 or oblong), stride, padding, dilation,
    groups, bias, fill, and a mask from 0% to 100% active."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    groups = [1, 1, 2, 3][seed % 4]
    k = [(1, 1), (3, 3), (5, 5), (3, 5), (3, 1)][seed % 5]
    stride = [(1, 1), (2, 2), (1, 2)][r(0, 2)]
    dilation = [(1, 1), (2, 2), (1, 2)][r(0, 2)]
    padding = (r(0, 2), r(0, 2))
    B, C_in, C_out = r(1, 3), groups * r(1, 3), groups * r(1, 3)
    H = max(r(1, 12), dilation[0] * (k[0] - 1) + 1 - 2 * padding[0])
    W = max(r(1, 12), dilation[1] * (k[1] - 1) + 1 - 2 * padding[1])
    H_out, W_out = output_size(H, W, k, stride, padding, dilation)
    density = [0.0, 0.1, 0.3, 0.5, 0.9, 1.0][seed % 6]
    t = lambda *shape: torch.randn(*shape, dtype=dtype, generator=g).to(device)
    return dict(
        input=t(B, C_in, H, W),
        weight=t(C_out, C_in // groups, *k),
        bias=t(C_out) if seed % 3 else None,
        mask=(torch.rand(B, 1, H_out, W_out, generator=g) < density).to(device),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        fill=t(B, C_out, H_out, W_out) if seed % 2 else None,
    )


def as_args(case):
    """A case as the raw op's arguments, in schema order."""
    return (
        case["input"],
        case["weight"],
        case["bias"],
        case["mask"],
        list(case["stride"]),
        list(case["padding"]),
        list(case["dilation"]),
        case["groups"],
        case["fill"],
    )


def run(fn, case, grad_out):
    """Output, and the gradients to input, weight, bias and fill that exist."""
    case = dict(case)
    names = [n for n in ("input", "weight", "bias", "fill") if case[n] is not None]
    for n in names:
        case[n] = case[n].detach().clone().requires_grad_()
    out = fn(**case)
    return (out.detach(),) + torch.autograd.grad(out, [case[n] for n in names], grad_out)


def channels_last(case):
    """The case with a channels-last input: the op then computes NHWC."""
    return dict(case, input=case["input"].contiguous(memory_format=torch.channels_last))


def is_channels_last(t):
    return t.is_contiguous(memory_format=torch.channels_last)


def raw_args(**over):
    """Arguments of the raw op, a 4 -> 6 channel 3x3 convolution of an 8x8 input, with some replaced."""
    a = dict(
        input=torch.randn(1, 4, 8, 8),
        weight=torch.randn(6, 4, 3, 3),
        bias=None,
        mask=torch.ones(1, 1, 8, 8, dtype=torch.bool),
        stride=[1, 1],
        padding=[1, 1],
        dilation=[1, 1],
        groups=1,
        fill=None,
    )
    a.update(over)
    return tuple(a.values())


class TestSparseMaskedConv2d(OpTester):
    op = "sparse_masked_conv2d"
    # On CPU, float16/bfloat16 convolutions (the dense route past 50% active) are torch's own CPU kernels.
    reduced_tolerance = {torch.float16: 4e-3, torch.bfloat16: 3e-2}

    def reference(self, *args):
        return reference.sparse_masked_conv2d(*args)

    def cases(self):
        # Both layouts: a channels-last input is computed NHWC.
        return [as_args(layout(random_case(seed))) for seed in range(60) for layout in (dict, channels_last)]

    def gradcheck_cases(self):
        cases = []
        for seed in (1, 3, 4, 10, 13, 17):
            for layout in (dict, channels_last):
                case = layout(random_case(seed))
                case["mask"] = torch.rand(case["mask"].shape) < 0.6
                cases.append(as_args(case))
        return cases

    def empty_cases(self):
        # No batch items, or no output channels: empty outputs, zero gradients.
        return [
            (
                torch.randn(B, 3, 6, 6),
                torch.randn(C_out, 3, 3, 3),
                torch.randn(C_out),
                torch.ones(B, 1, 4, 4, dtype=torch.bool),
                [1, 1],
                [0, 0],
                [1, 1],
                1,
                None,
            )
            for B, C_out in [(0, 4), (2, 0)]
        ]

    def backward_args(self, ops, args, grad_output, output_mask):
        input, weight, bias, mask, stride, padding, dilation, groups, fill = args
        return grad_output, input, weight, mask, stride, padding, dilation, groups, output_mask

    def output_masks(self, args):
        return [[True] * 4] + [[j == i for j in range(4)] for i in range(4)]

    def bad_inputs(self, backend):
        d = backend.device

        def args(**over):
            return convert(raw_args(**over), d)

        bad = [
            (args(stride=[2, 2]), ValueError, r"mask of shape \[1, 1, 4, 4\]"),
            (args(mask=torch.ones(1, 8, 8, dtype=torch.bool)), ValueError, r"mask of shape \[B, 1, H_out, W_out\]"),
            (args(mask=torch.ones(2, 1, 8, 8)), ValueError, r"mask of shape \[1, 1, 8, 8\]"),
            (args(mask=torch.ones(1, 2, 8, 8)), ValueError, r"mask of shape \[1, 1, 8, 8\]"),
            (
                args(mask=torch.ones(1, 1, 8, 8, dtype=torch.complex64)),
                TypeError,
                r"mask to be a bool, integer or floating",
            ),
            (args(weight=torch.randn(6, 3, 3, 3)), ValueError, r"weight of shape \[6, 4, kh, kw\]"),
            (args(groups=2), ValueError, r"weight of shape \[6, 2, kh, kw\]"),
            (
                args(weight=torch.randn(6, 1, 3, 3), groups=3),
                ValueError,
                r"input channels \(4\) to be divisible by groups",
            ),
            (
                args(weight=torch.randn(5, 2, 3, 3), groups=2),
                ValueError,
                r"output channels \(5\) to be divisible by groups",
            ),
            (args(weight=torch.randn(6, 4, 3)), ValueError, r"weight of shape \[C_out, C_in / groups, kh, kw\]"),
            (
                args(weight=torch.randn(6, 4, 3, 3, dtype=torch.float64)),
                TypeError,
                r"weight to have the dtype of input",
            ),
            (args(bias=torch.randn(5)), ValueError, r"bias of shape \[6\]"),
            (args(bias=torch.randn(6, dtype=torch.float64)), TypeError, r"bias to have the dtype of input"),
            (args(fill=torch.randn(1, 6, 8, 7)), ValueError, r"fill of shape \[1, 6, 8, 8\]"),
            (args(fill=torch.randn(1, 6, 8, 8, dtype=torch.float64)), TypeError, r"fill to have the dtype of input"),
            (args(input=torch.randn(4, 8, 8)), ValueError, r"input of shape \[B, C_in, H, W\]"),
            (args(input=torch.randint(0, 3, (1, 4, 8, 8))), TypeError, r"input to be a floating-point"),
            (
                args(input=torch.randn(1, 4, 2, 2), padding=[0, 0], mask=torch.ones(1, 1, 1, 1)),
                ValueError,
                r"padded input \(2 x 2\) is smaller than the dilated kernel \(3 x 3\)",
            ),
            (args(stride=[0, 1]), ValueError, r"stride value in \[1, 2\^20\]"),
            (args(padding=[-1, 0]), ValueError, r"padding value in \[0, 2\^20\]"),
            (args(dilation=[1, 0]), ValueError, r"dilation value in \[1, 2\^20\]"),
            (args(stride=[1, 2, 3]), ValueError, r"stride to have 2 values"),
            (args(groups=0), ValueError, r"groups >= 1"),
            (
                convert(raw_args(), d)[:1] + (torch.randn(6, 4, 3, 3, device="meta"),) + convert(raw_args(), d)[2:],
                ValueError,
                r"weight on the same device as input",
            ),
            (
                convert(raw_args(), d)[:3] + (torch.ones(1, 1, 8, 8, device="meta"),) + convert(raw_args(), d)[4:],
                ValueError,
                r"mask on the same device as input",
            ),
        ]
        if backend.name == "cpu":
            bad.append(
                (
                    args(input=torch.randn(1, 4, 8, 8).half(), weight=torch.randn(6, 4, 3, 3).half()),
                    TypeError,
                    r"CPU kernels support float32 and float64",
                )
            )
        return bad

    # ---------------------------------------------------------------- sparse_masked_conv2d only

    def test_output_follows_the_input_layout(self, backend):
        for seed in range(6):  # densities 0 to 100%: the empty, sparse and dense routes
            case = random_case(seed)
            case["input"] = torch.randn(2, 6, 9, 11, dtype=torch.float64)
            case["weight"] = torch.randn(6, 6 // case["groups"], 3, 3, dtype=torch.float64)
            case.update(stride=(1, 1), padding=(1, 1), dilation=(1, 1), fill=None, bias=None)
            case["mask"] = torch.rand(2, 1, 9, 11) < [0.0, 0.1, 0.3, 0.5, 0.9, 1.0][seed]
            grad_out = torch.randn(2, 6, 9, 11, dtype=torch.float64, device=backend.device)
            out, grad_input, _ = self.run(backend, convert(as_args(channels_last(case)), backend.device), grad_out)
            assert is_channels_last(out) and not out.is_contiguous()
            assert is_channels_last(grad_input) and not grad_input.is_contiguous()
            out, grad_input, _ = self.run(
                backend, convert(as_args(case), backend.device), grad_out.contiguous(memory_format=torch.channels_last)
            )
            assert out.is_contiguous() and grad_input.is_contiguous()

    @pytest.mark.parametrize("layout", ["nchw", "nhwc"])
    def test_float32_large_matches_reference(self, backend, layout):
        # 64 channels, 3x3, several chunks of active positions.
        input = torch.randn(2, 64, 40, 56)
        if layout == "nhwc":
            input = input.contiguous(memory_format=torch.channels_last)
        args = (
            input,
            torch.randn(48, 64, 3, 3) / 24,
            torch.randn(48),
            torch.rand(2, 1, 40, 56) < 0.45,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
            torch.randn(2, 48, 40, 56),
        )
        g = torch.randn(2, 48, 40, 56)
        ours = self.run(backend, convert(args, backend.device), g.to(backend.device))
        for a, b in zip(ours, self.run_reference(args, g)):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-4 * b.abs().max().item())

    def test_all_inactive_is_the_fill_and_all_active_is_the_conv(self, backend):
        input, weight, bias = torch.randn(2, 4, 9, 9), torch.randn(5, 4, 3, 3), torch.randn(5)
        fill = torch.randn(2, 5, 9, 9)
        none = torch.zeros(2, 1, 9, 9, dtype=torch.bool)
        call = lambda mask, fill: self.call(
            backend.ops, *convert((input, weight, bias, mask, [1, 1], [1, 1], [1, 1], 1, fill), backend.device)
        ).cpu()
        out = call(none, fill)
        assert torch.equal(out, fill)
        assert torch.equal(call(none, None), torch.zeros(2, 5, 9, 9))
        full = torch.ones(2, 1, 9, 9, dtype=torch.bool)
        torch.testing.assert_close(call(full, fill), F.conv2d(input, weight, bias, padding=1))

    def test_inactive_positions_read_nothing_and_pass_no_gradient(self, backend):
        # NaN in the input where only inactive outputs look, and NaN in the incoming
        # gradient at inactive outputs: neither reaches the results, as with torch.where.
        input = torch.randn(1, 2, 10, 10, dtype=torch.float64)
        input[..., 7:, 7:] = float("nan")
        weight = torch.randn(3, 2, 3, 3, dtype=torch.float64)
        mask = torch.zeros(1, 1, 10, 10, dtype=torch.bool)
        mask[..., :5, :5] = True  # reads input rows and columns 0..5
        grad_out = torch.randn(1, 3, 10, 10, dtype=torch.float64)
        grad_out[..., 6:, :] = float("nan")
        fill = torch.randn(1, 3, 10, 10, dtype=torch.float64)
        args = (input, weight, None, mask, [1, 1], [1, 1], [1, 1], 1, fill)
        ours = [t.cpu() for t in self.run(backend, convert(args, backend.device), grad_out.to(backend.device))]
        assert all(torch.isfinite(t).all() for t in ours[:3])
        ref = self.run_reference(args, grad_out)
        for i in (0, 1, 3):  # output, input and fill gradients
            torch.testing.assert_close(ours[i], ref[i], equal_nan=True)
        # The dense reference's weight gradient is NaN (0 * NaN at inactive outputs);
        # without the unread NaNs it is what we compute.
        ref_clean = self.run_reference((input.nan_to_num(0.0),) + args[1:], grad_out)
        torch.testing.assert_close(ours[2], ref_clean[2])
        assert torch.equal(ours[3][..., :5, :5], torch.zeros(1, 3, 5, 5, dtype=torch.float64))

    @pytest.mark.parametrize("mask_dtype", [torch.bool, torch.uint8, torch.int32, torch.float32, torch.float64])
    def test_mask_dtypes(self, backend, mask_dtype):
        input, weight = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
        active = torch.rand(1, 1, 8, 8) < 0.5
        values = (
            torch.randint(1, 5, active.shape).to(mask_dtype) if mask_dtype != torch.bool else torch.ones_like(active)
        )
        if mask_dtype.is_floating_point:
            values = values * -0.25  # any nonzero value is active
        mask = torch.where(active, values, torch.zeros((), dtype=mask_dtype))
        call = lambda m: self.call(
            backend.ops,
            *convert(
                raw_args(input=input, weight=weight, mask=m)[:1] + (weight,) + raw_args()[2:3] + (m,) + raw_args()[4:],
                backend.device,
            ),
        )
        torch.testing.assert_close(call(mask), call(active))

    def test_nan_mask_entries_are_active(self, backend):
        input, weight = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
        mask = torch.zeros(1, 1, 8, 8)
        mask[..., 2, 3] = float("nan")
        call = lambda m: self.call(
            backend.ops, *convert((input, weight, None, m, [1, 1], [1, 1], [1, 1], 1, None), backend.device)
        ).cpu()
        torch.testing.assert_close(call(mask), call(mask != 0))
        assert call(mask)[..., 2, 3].abs().sum() > 0

    @pytest.mark.parametrize("density", [0.2, 0.49, 0.51, 0.59, 0.61, 0.9])
    def test_sparse_and_dense_routes(self, backend, density):
        # Up to 60% active (50% on CUDA) the kernels gather the active patches; past
        # it the dense convolution computes the same expression. Both match the reference.
        g = torch.Generator().manual_seed(3)
        input = torch.randn(2, 6, 15, 17, dtype=torch.float64, generator=g)
        weight = torch.randn(8, 3, 3, 3, dtype=torch.float64, generator=g)
        bias = torch.randn(8, dtype=torch.float64, generator=g)
        fill = torch.randn(2, 8, 8, 9, dtype=torch.float64, generator=g)
        mask = torch.zeros(2 * 8 * 9, dtype=torch.bool)
        mask[torch.randperm(mask.numel(), generator=g)[: round(density * mask.numel())]] = True
        args = (input, weight, bias, mask.view(2, 1, 8, 9), [2, 2], [1, 1], [1, 1], 2, fill)
        grad_out = torch.randn(2, 8, 8, 9, dtype=torch.float64, generator=g)
        self.assert_close(
            self.run(backend, convert(args, backend.device), grad_out.to(backend.device)),
            self.run_reference(args, grad_out),
            f"{density}",
            rtol=1e-10,
            atol=1e-10,
        )

    def test_bad_grad_output(self, backend):
        a = convert(raw_args(), backend.device)
        with pytest.raises(ValueError, match=r"grad_output of shape \[1, 6, 8, 8\]"):
            backend.ops.sparse_masked_conv2d_backward(
                torch.randn(1, 6, 8, 7, device=backend.device), a[0], a[1], a[3], [1, 1], [1, 1], [1, 1], 1, [True] * 4
            )

    def test_out_overload(self, backend):
        # The raw .out overload writes what the functional op returns, on every route.
        with torch.no_grad():
            for seed in range(12):
                args = convert(as_args(random_case(seed)), backend.device)
                want = self.call(backend.ops, *args)
                out = torch.full_like(want, float("nan"))
                backend.ops.sparse_masked_conv2d.out(*args, out=out)
                torch.testing.assert_close(out, want, rtol=0, atol=0)

    def test_deterministic_mode_takes_the_dense_route_on_cuda(self, gpu_backend):
        # The sparse input gradient uses atomic adds; deterministic mode takes the dense route.
        case = random_case(21, torch.float32)
        case["mask"] = torch.rand(case["mask"].shape) < 0.2
        args = convert(as_args(case), gpu_backend.device)
        free = self.run(gpu_backend, args)
        with DeterministicAlgorithms():
            first, second = self.run(gpu_backend, args), self.run(gpu_backend, args)
        for a, b, c in zip(first, second, free):
            assert torch.equal(a, b)
            torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- the public function (CPU)


def test_reference_is_where_of_conv():
    # The reference itself, against the definition written out.
    case = random_case(7)
    conv = F.conv2d(
        case["input"], case["weight"], case["bias"], case["stride"], case["padding"], case["dilation"], case["groups"]
    )
    fill = case["fill"] if case["fill"] is not None else torch.zeros_like(conv)
    want = torch.where(case["mask"].expand_as(conv), conv, fill)
    assert torch.equal(reference.sparse_masked_conv2d(**case), want)
    torch.testing.assert_close(op(**case), want, rtol=1e-12, atol=1e-12)


def test_mask_gets_no_gradient():
    input = torch.randn(1, 3, 8, 8, requires_grad=True)
    mask = (torch.rand(1, 1, 8, 8) < 0.5).float().requires_grad_()
    op(input, torch.randn(4, 3, 3, 3), None, mask, padding=1).sum().backward()
    assert mask.grad is None and input.grad is not None


def test_string_padding():
    input, weight = torch.randn(1, 3, 9, 10), torch.randn(4, 3, 3, 5)
    mask = torch.rand(1, 1, 9, 10) < 0.5
    for padding in ("same", "valid"):
        conv = F.conv2d(input, weight, None, padding=padding)
        m = mask[..., : conv.shape[2], : conv.shape[3]]
        torch.testing.assert_close(op(input, weight, None, m, padding=padding), torch.where(m, conv, 0))
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        op(input, weight, None, mask, stride=2, padding="same")
    with pytest.raises(ValueError, match="pads one side more"):
        op(input, torch.randn(4, 3, 2, 2), None, mask, padding="same")
    with pytest.raises(ValueError, match="padding must be"):
        op(input, weight, None, mask, padding="full")


def test_module_is_a_drop_in_for_conv2d():
    conv = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1, groups=2)
    sparse = vfi_ops.nn.SparseMaskedConv2d(6, 8, 3, stride=2, padding=1, groups=2)
    sparse.load_state_dict(conv.state_dict())
    input = torch.randn(2, 6, 11, 13)
    mask = torch.rand(2, 1, 6, 7) < 0.5
    fill = torch.randn(2, 8, 6, 7)
    torch.testing.assert_close(sparse(input, mask, fill), torch.where(mask, conv(input), fill))
    torch.testing.assert_close(sparse(input, torch.ones_like(mask)), conv(input))
    assert "kernel_size=(3, 3)" in repr(sparse)
    same = vfi_ops.nn.SparseMaskedConv2d(6, 8, 3, padding="same")
    assert same(input, torch.ones(2, 1, 11, 13)).shape == (2, 8, 11, 13)
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        vfi_ops.nn.SparseMaskedConv2d(6, 8, 3, padding_mode="reflect")


def test_torch_compile_fullgraph():
    def loss_fn(input, weight, bias, mask, fill, target):
        out = vfi_ops.sparse_masked_conv2d(input, weight, bias, mask, padding=1, fill=fill)
        return (out - target).abs().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    input = torch.randn(2, 4, 12, 12, requires_grad=True)
    weight = torch.randn(5, 4, 3, 3, requires_grad=True)
    bias = torch.randn(5, requires_grad=True)
    fill = torch.randn(2, 5, 12, 12, requires_grad=True)
    mask = torch.rand(2, 1, 12, 12) < 0.3
    target = torch.randn(2, 5, 12, 12)
    params = (input, weight, bias, fill)
    loss = compiled(input, weight, bias, mask, fill, target)
    grads = torch.autograd.grad(loss, params)
    loss_ref = loss_fn(input, weight, bias, mask, fill, target)
    grads_ref = torch.autograd.grad(loss_ref, params)
    torch.testing.assert_close(loss, loss_ref)
    assert_all_close(grads, grads_ref)


def test_raw_op_with_schema_defaults():
    # Trailing arguments equal to their defaults are dropped by the dispatcher
    # before they reach the fake kernel and the autograd context.
    input = torch.randn(1, 3, 7, 7, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    mask = torch.rand(1, 1, 5, 5) < 0.5
    raw = lambda i, w: torch.ops.vfi_ops.sparse_masked_conv2d(i, w, None, mask)
    want = torch.where(mask, F.conv2d(input, weight), 0)
    grads_ref = torch.autograd.grad(want.square().sum(), (input, weight))
    for fn in (raw, torch.compile(raw, fullgraph=True)):
        out = fn(input, weight)
        torch.testing.assert_close(out, want.detach())
        grads = torch.autograd.grad(out.square().sum(), (input, weight))
        assert_all_close(grads, grads_ref)


def _args(**over):
    a = dict(
        input=torch.randn(1, 4, 8, 8),
        weight=torch.randn(6, 4, 3, 3),
        bias=None,
        mask=torch.ones(1, 1, 8, 8, dtype=torch.bool),
        stride=1,
        padding=1,
        dilation=1,
        groups=1,
        fill=None,
    )
    a.update(over)
    return a


@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])  # nothing, the sparse route, the dense route
@pytest.mark.parametrize("with_fill", [False, True])
def test_no_input_channels(density, with_fill):
    # C_in = 0: the empty sum is 0, so the convolution is its bias at every active
    # position, on either route, with the output's C_out channels (F.conv2d on CPU
    # returns no channels here instead).
    input = torch.randn(2, 0, 6, 7, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 0, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    fill = torch.randn(2, 4, 6, 7, dtype=torch.float64, requires_grad=True) if with_fill else None
    mask = torch.rand(2, 1, 6, 7) < density
    out = op(input, weight, bias, mask, padding=1, fill=fill)
    other = fill if with_fill else torch.zeros(2, 4, 6, 7, dtype=torch.float64)
    want = torch.where(mask, bias.view(1, 4, 1, 1).expand(2, 4, 6, 7), other)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    torch.testing.assert_close(reference.sparse_masked_conv2d(input, weight, bias, mask, padding=1, fill=fill), want)
    grad = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    params = (input, weight, bias) + ((fill,) if with_fill else ())
    got = torch.autograd.grad(out, params, grad)
    assert got[0].shape == input.shape and got[1].shape == weight.shape
    torch.testing.assert_close(got[2], torch.where(mask, grad, 0).sum((0, 2, 3)))
    if with_fill:
        torch.testing.assert_close(got[3], torch.where(mask, 0, grad))
    with torch.no_grad():
        out_buffer = torch.full((2, 4, 6, 7), float("nan"), dtype=torch.float64)
        op(input, weight, bias, mask, padding=1, fill=fill, out=out_buffer)
        torch.testing.assert_close(out_buffer, want, rtol=0, atol=0)


def test_any_integer_type_for_stride_padding_dilation_groups():
    np = pytest.importorskip("numpy")
    a = _args(mask=torch.rand(1, 1, 4, 4) < 0.5, weight=torch.randn(6, 2, 3, 3))
    want = op(**dict(a, stride=2, padding=1, dilation=1, groups=2))
    for kind in (np.int64, np.int32, lambda v: torch.tensor(v), lambda v: torch.tensor(v, dtype=torch.int32)):
        got = op(**dict(a, stride=kind(2), padding=(kind(1), 1), dilation=[kind(1), kind(1)], groups=kind(2)))
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    conv = vfi_ops.nn.SparseMaskedConv2d(4, 6, 3, stride=np.int64(2), padding=np.int64(1), groups=2)
    assert conv(a["input"], a["mask"]).shape == (1, 6, 4, 4)


@pytest.mark.parametrize("name,value", [("stride", 2.0), ("padding", (1, 1.5)), ("dilation", "2"), ("groups", 1.0)])
def test_non_integer_conv_arguments_are_named(name, value):
    with pytest.raises(TypeError, match=rf"expected {name} to be an"):
        op(**_args(**{name: value}))


def test_output_memory_format_at_package_level():
    # The one the fake kernels of sparse_masked_conv2d and backward_warp use.
    assert vfi_ops.output_memory_format is vfi_ops._layout.output_memory_format
    x = torch.randn(1, 4, 8, 8)
    assert vfi_ops.output_memory_format(x) == torch.contiguous_format
    assert vfi_ops.output_memory_format(x.contiguous(memory_format=torch.channels_last)) == torch.channels_last


PUBLIC_BAD_INPUTS = [
    (_args(stride=(1, 2, 3)), ValueError, r"stride to be an int or 2 ints"),
]


@pytest.mark.parametrize("args,exc,match", PUBLIC_BAD_INPUTS)
def test_public_function_bad_inputs(args, exc, match):
    with pytest.raises(exc, match=match):
        op(**args)
