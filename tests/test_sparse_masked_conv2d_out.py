"""sparse_masked_conv2d's out= argument (the public function and the raw .out
overload): the result written into a given tensor, its layout, shape, dtype and
memory checks, no autograd, torch.compile."""

import pytest
import torch

import vfi_ops
from helpers import strided
from test_sparse_masked_conv2d import _args, channels_last, random_case

op = vfi_ops.sparse_masked_conv2d


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_out_writes_the_result_into_a_given_tensor(layout):
    with torch.no_grad():
        for seed in range(24):  # densities 0 to 100%: the empty, sparse and dense routes, fill or not
            case = random_case(seed) if layout == "nchw" else channels_last(random_case(seed))
            want = op(**case)
            out = torch.full_like(want, float("nan"))  # garbage to overwrite, in the output's layout
            assert op(**case, out=out) is out
            torch.testing.assert_close(out, want, rtol=0, atol=0)


def test_output_memory_format_names_the_layout_out_must_have():
    from vfi_ops import output_memory_format

    x = torch.randn(1, 4, 8, 8)
    assert output_memory_format(x) == torch.contiguous_format
    assert output_memory_format(x.contiguous(memory_format=torch.channels_last)) == torch.channels_last
    assert (
        output_memory_format(torch.randn(1, 1, 8, 8).contiguous(memory_format=torch.channels_last))
        == torch.contiguous_format
    )  # both layouts at once: computed NCHW
    assert output_memory_format(strided(x)) == torch.contiguous_format
    for t in (x, x.contiguous(memory_format=torch.channels_last)):
        args = _args(input=t)
        want = op(**args)
        out = torch.empty(want.shape, memory_format=output_memory_format(t))
        torch.testing.assert_close(op(**args, out=out), want, rtol=0, atol=0)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_out_may_be_the_fill(layout):
    # The fill updated in place where the mask is on: what a coarse-to-fine model reuses.
    with torch.no_grad():
        for seed in (1, 3, 5, 9):
            case = random_case(seed) if layout == "nchw" else channels_last(random_case(seed))
            want = op(**case)
            fill = torch.empty_like(want).copy_(case["fill"])
            assert op(**dict(case, fill=fill), out=fill) is fill
            torch.testing.assert_close(fill, want, rtol=0, atol=0)


def test_out_buffers_reused_across_layers():
    # Ping-pong between two buffers, as the UGSP decoders do at inference.
    torch.manual_seed(0)
    x = torch.randn(1, 6, 16, 20).contiguous(memory_format=torch.channels_last)
    mask = torch.rand(1, 1, 16, 20) < 0.3
    weights = [torch.randn(6, 6, 3, 3) for _ in range(4)]
    buffers = [torch.empty_like(x) for _ in range(2)]
    with torch.no_grad():
        fresh, reused = x, x
        for i, w in enumerate(weights):
            fresh = op(fresh, w, None, mask, padding=1)
            reused = op(reused, w, None, mask, padding=1, out=buffers[i % 2])
        torch.testing.assert_close(reused, fresh, rtol=0, atol=0)


def test_out_does_not_support_autograd():
    a = _args(input=torch.randn(1, 4, 8, 8, requires_grad=True))
    with pytest.raises(RuntimeError, match="out= does not support autograd"):
        op(**a, out=torch.empty(1, 6, 8, 8))
    with torch.no_grad():
        assert op(**a, out=torch.empty(1, 6, 8, 8)).shape == (1, 6, 8, 8)


def test_out_opcheck_and_compile():
    # torch.compile cannot functionalize a custom out= overload that returns its
    # out, so the raw overload is checked in eager and fake mode only; the Python
    # function compiles out= as the functional op and a copy.
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    for seed, layout in ((1, "nchw"), (2, "nchw"), (6, "nhwc"), (5, "nchw"), (9, "nhwc")):
        case = random_case(seed) if layout == "nchw" else channels_last(random_case(seed))
        args = [case[n] for n in ("input", "weight", "bias", "mask")]
        conv = [list(case["stride"]), list(case["padding"]), list(case["dilation"]), case["groups"]]
        out = torch.empty_like(op(**case))
        torch.library.opcheck(
            torch.ops.vfi_ops.sparse_masked_conv2d.out, (*args, *conv, case["fill"]), {"out": out}, test_utils=utils
        )

    def twice(x, w, mask, fill):
        out = torch.empty_like(fill)
        op(x, w, None, mask, padding=1, fill=fill, out=out)
        return 2 * out

    def in_place(x, w, mask, fill):
        op(x, w, None, mask, padding=1, fill=fill, out=fill)
        return fill + 1

    x, w = torch.randn(2, 4, 9, 9), torch.randn(5, 4, 3, 3)
    mask, fill = torch.rand(2, 1, 9, 9) < 0.4, torch.randn(2, 5, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(twice, fullgraph=True)(x, w, mask, fill), twice(x, w, mask, fill))
        want_fill = op(x, w, None, mask, padding=1, fill=fill)
        compiled_fill = fill.clone()
        got = torch.compile(in_place, fullgraph=True)(x, w, mask, compiled_fill)
        torch.testing.assert_close(compiled_fill, want_fill, rtol=0, atol=0)
        torch.testing.assert_close(got, want_fill + 1, rtol=0, atol=0)
    # (some dynamo releases report the error raised while tracing as an "Observed exception")
    with pytest.raises(Exception, match="out= does not support autograd|Observed exception"):
        torch.compile(twice, fullgraph=True)(x.requires_grad_(), w, mask, fill)


BAD_OUTS = [
    (torch.empty(1, 6, 8, 7), ValueError, r"out of shape \[1, 6, 8, 8\]"),
    (torch.empty(1, 6, 8, 8, dtype=torch.float64), TypeError, r"out to have the dtype of input"),
    (torch.empty(1, 6, 8, 8, device="meta"), ValueError, r"out on the same device as input"),
    (
        torch.empty(1, 6, 8, 8).contiguous(memory_format=torch.channels_last),
        ValueError,
        r"out to be contiguous \(as the input\)",
    ),
    (torch.empty(1, 8, 8, 6).transpose(1, 3), ValueError, r"out to be contiguous"),
]


@pytest.mark.parametrize("out,exc,match", BAD_OUTS)
def test_bad_out(out, exc, match):
    with pytest.raises(exc, match=match):
        op(**_args(), out=out)


def test_out_must_not_share_memory_with_the_inputs():
    a = _args(weight=torch.randn(4, 4, 3, 3))  # as many output channels as input ones
    with pytest.raises(ValueError, match="out to share no memory with input"):
        op(**a, out=a["input"])
    base = torch.randn(257)
    fill, shifted = base[:256].view(1, 4, 8, 8), base[1:].view(1, 4, 8, 8)
    with pytest.raises(ValueError, match="out to be the fill itself or to share no memory with it"):
        op(**dict(a, fill=fill), out=shifted)
    nhwc = _args(input=torch.randn(1, 4, 8, 8).contiguous(memory_format=torch.channels_last))
    with pytest.raises(ValueError, match=r"out to be channels-last contiguous \(as the input\)"):
        op(**nhwc, out=torch.empty(1, 6, 8, 8))


def test_raw_out_overload_returns_out():
    # ATen's convention: the out= overload returns its out argument.
    a = _args(mask=torch.rand(1, 1, 8, 8) < 0.3)
    out = torch.empty(1, 6, 8, 8)
    got = torch.ops.vfi_ops.sparse_masked_conv2d.out(
        a["input"], a["weight"], None, a["mask"], [1, 1], [1, 1], [1, 1], 1, None, out=out
    )
    assert got is out
    torch.testing.assert_close(out, op(**a), rtol=0, atol=0)


def test_out_with_sliced_arguments():
    # Views of other storages share nothing with out, whatever their layout.
    x = torch.randn(1, 3, 10, 8)[:, :, :8]
    w = torch.randn(4, 3, 3, 3)
    mask = torch.rand(1, 1, 8, 8) < 0.3
    sliced_mask = (torch.rand(1, 1, 8, 11) < 0.3)[..., 2:10]
    fill = torch.randn(2, 4, 8, 8)[1:]
    for m in (mask, sliced_mask):
        for f in (None, fill, fill.transpose(2, 3)):
            out = torch.empty(1, 4, 8, 8)
            assert op(x, w, None, m, padding=1, fill=f, out=out) is out
            torch.testing.assert_close(out, op(x, w, None, m, padding=1, fill=f), rtol=0, atol=0)


@pytest.mark.parametrize("density", [0.3, 0.9])  # sparse and dense routes
def test_out_next_to_its_arguments_in_one_storage(density):
    # Arguments and out in one buffer: disjoint byte ranges share nothing; a
    # strided view spread around out (whose overlap ATen does not decide) is read
    # as it was before out is written; true overlap raises.
    torch.manual_seed(0)
    mask = torch.rand(1, 1, 8, 8) < density
    w = torch.randn(4, 3, 3, 3)
    with torch.no_grad():
        base = torch.randn(8 * 256)
        out = base[256:512].view(1, 4, 8, 8)
        x_after = base[512 : 512 + 192].view(1, 3, 8, 8)
        want = op(x_after.clone(), w, None, mask, padding=1)
        assert op(x_after, w, None, mask, padding=1, out=out) is out
        torch.testing.assert_close(out, want, rtol=0, atol=0)

        # channels 512 floats apart: out lies between two of them, or across one
        for offset, stride in ((0, 512), (0, 128)):
            fill = base.as_strided((1, 4, 8, 8), (0, stride, 8, 1), offset)
            want = op(x_after, w, None, mask, padding=1, fill=fill.clone())
            assert op(x_after, w, None, mask, padding=1, fill=fill, out=out) is out
            torch.testing.assert_close(out, want, rtol=0, atol=0)

        with pytest.raises(ValueError, match="out to share no memory with input"):
            op(base[256 + 64 : 256 + 64 + 192].view(1, 3, 8, 8), w, None, mask, padding=1, out=out)


def test_raw_out_overload_refuses_autograd():
    # As torch.mm(..., out=) does: no silent copy recorded into out's history.
    a = _args(mask=torch.rand(1, 1, 8, 8) < 0.5)
    conv = ([1, 1], [1, 1], [1, 1], 1)
    for grad_arg in ("input", "weight", "bias", "fill", "out"):
        args = dict(
            input=a["input"],
            weight=a["weight"],
            bias=torch.randn(6),
            fill=torch.randn(1, 6, 8, 8),
            out=torch.empty(1, 6, 8, 8),
        )
        args[grad_arg] = args[grad_arg].clone().requires_grad_()
        with pytest.raises(RuntimeError, match="out= does not support autograd"):
            torch.ops.vfi_ops.sparse_masked_conv2d.out(
                args["input"], args["weight"], args["bias"], a["mask"], *conv, args["fill"], out=args["out"]
            )
        with torch.no_grad():
            got = torch.ops.vfi_ops.sparse_masked_conv2d.out(
                args["input"], args["weight"], args["bias"], a["mask"], *conv, args["fill"], out=args["out"]
            )
        assert got is args["out"]


def test_out_bumps_the_version_of_out():
    # An out= write into a tensor saved for backward is caught by autograd.
    a = _args(mask=torch.rand(1, 1, 8, 8) < 0.5)
    out = torch.randn(1, 6, 8, 8)
    x = torch.randn(1, 6, 8, 8, requires_grad=True)
    y = (x * out).sum()  # saves out
    with torch.no_grad():
        op(**a, out=out)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.cuda
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_cuda_out_matches_cpu(layout):
    with torch.no_grad():
        for seed in range(12):
            case = random_case(seed, torch.float32)
            case = case if layout == "nchw" else channels_last(case)
            want = op(**case)
            on_gpu = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in case.items()}
            out = torch.full_like(want, float("nan")).cuda()
            assert op(**on_gpu, out=out) is out
            torch.testing.assert_close(out.cpu(), want, rtol=1e-3, atol=1e-3)
