"""The CPU kernels' vectorised tap routines (csrc/cpu/row_taps.h) against the
scalar definitions of the shared headers (bilinear.h, adaptive_warp.h): bitwise
the same offsets, weights, masks and gradient coefficients, exact positions and
non-finite flows included. The op tests (test_backward_warp.py,
test_adaptive_warp.py) run the vectorised routines inside the ops."""

import os
import subprocess
import sys
import tempfile

import pytest
import torch

import vfi_ops
from vfi_ops import _C

VECTORISED = _C.cpu_vector_isa() != "none"
needs_vector_isa = pytest.mark.skipif(not VECTORISED, reason="no vectorised tap routine on this CPU or build")


def special_positions(n, size, dtype):
    """n positions around the edges of [0, size - 1] and on integers: -1, the
    edges, halves, one ulp either side, far and non-finite values."""
    s = float(size - 1)
    base = torch.tensor([-1.0, -0.5, 0.0, 0.5, s - 0.5, s, s + 0.5, s + 1.0, -2.0, 1.0, s / 2, 3.25], dtype=dtype)
    ulp = torch.cat([torch.nextafter(base, base - 1), torch.nextafter(base, base + 1)])
    far = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 2.0**40, -(2.0**40)], dtype=dtype)
    pool = torch.cat([base, ulp, far])
    return pool[torch.randint(0, len(pool), (n,))]


def flows(dtype, B, H, W, h_in, w_in):
    """Flows of several kinds for an H x W output sampling an h_in x w_in plane:
    smooth, on integers, exactly at special positions (as displacements)."""
    xs = torch.arange(W, dtype=dtype).view(1, 1, W)
    ys = torch.arange(H, dtype=dtype).view(1, H, 1)
    smooth = torch.randn(B, 2, H, W, dtype=dtype) * max(h_in, w_in) / 2
    special = torch.stack(
        [
            special_positions(B * H * W, w_in, dtype).view(B, H, W) - xs,
            special_positions(B * H * W, h_in, dtype).view(B, H, W) - ys,
        ],
        dim=1,
    )
    return [smooth, smooth.round(), special]


def bits(t):
    """A tensor's bits (NaN-safe, and -0.0 differs from 0.0)."""
    return t.view(torch.int32 if t.element_size() == 4 else torch.int64) if t.is_floating_point() else t


def assert_bitwise(vectorised, scalar, what):
    for i, (a, b) in enumerate(zip(vectorised, scalar)):
        mismatched = (bits(a) != bits(b)).nonzero()
        assert len(mismatched) == 0, (
            f"{what}, result {i}: {len(mismatched)} elements differ, first at {mismatched[0].tolist()}"
        )


@needs_vector_isa
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
def test_bilinear_row_taps_are_bitwise_the_scalar_ones(dtype, padding_mode):
    # Rows of 1 to 19 pixels (partial vectors) and a wide one; planes as small as 1 x 1.
    for H, W, h_in, w_in in [
        (3, 1, 1, 1),
        (2, 5, 4, 3),
        (4, 7, 9, 2),
        (3, 8, 8, 8),
        (2, 11, 1, 13),
        (5, 16, 7, 16),
        (2, 19, 19, 1),
        (2, 203, 61, 207),
    ]:
        for flow in flows(dtype, 2, H, W, h_in, w_in):
            vectorised = torch.ops.vfi_ops._row_taps(flow, h_in, w_in, padding_mode, True)
            scalar = torch.ops.vfi_ops._row_taps(flow, h_in, w_in, padding_mode, False)
            assert_bitwise(vectorised, scalar, f"{dtype} {padding_mode} {H}x{W} from {h_in}x{w_in}")


@needs_vector_isa
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("F", [2, 4, 6])
def test_adaptive_windows_are_bitwise_the_scalar_ones(dtype, F):
    # Windows placed at exact positions, on the edges, past half the image, non-finite.
    for H, W in [(1, 1), (3, 5), (6, 9), (4, 16), (7, 37)]:
        for flow in flows(dtype, 2, H, W, H, W) + [flow_half_the_image(dtype, H, W)]:
            vectorised = torch.ops.vfi_ops._adaptive_row_windows(flow, F, True)
            scalar = torch.ops.vfi_ops._adaptive_row_windows(flow, F, False)
            assert_bitwise(vectorised, scalar, f"{dtype} F={F} {H}x{W}")


def flow_half_the_image(dtype, H, W):
    """Displacements right at +-half the image (DAIN drops windows from there)."""
    flow = torch.empty(2, 2, H, W, dtype=dtype)
    flow[:, 0] = torch.tensor([-W / 2, W / 2, -W / 2 + 0.5, W / 2 - 0.5], dtype=dtype)[torch.randint(0, 4, (2, H, W))]
    flow[:, 1] = torch.tensor([-H / 2, H / 2, -H / 2 + 0.5, H / 2 - 0.5], dtype=dtype)[torch.randint(0, 4, (2, H, W))]
    return flow


def test_the_taps_of_a_known_row():
    # Pixel 0 of a 1 x 2 row samples at x = 0.25 of a 1 x 2 plane: taps (0, 0) and
    # (0, 1) with weights 0.75, 0.25; the bottom ones are outside ("zeros"). Pixel 1
    # samples at x = 1 exactly: its own pixel, its right tap outside.
    flow = torch.tensor([[[[0.25, 0.0]], [[0.0, 0.0]]]])
    for vectorised in (True, False):
        offsets, w, mask, cx, cy = torch.ops.vfi_ops._row_taps(flow, 1, 2, "zeros", vectorised)
        assert w[0, :, 0].T.tolist() == [[0.75, 0.25, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
        assert mask[0, :, 0].T.tolist() == [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
        assert offsets[0, :2, 0].T.tolist() == [[0, 1], [1, 0]]  # taps outside point at offset 0
        assert cx[0, :, 0, 0].tolist() == [-1.0, 1.0, 0.0, 0.0]  # d/dx: input[1] - input[0]


def test_scalar_build_gives_the_same_results():
    # With ATen's CPU capability lowered (ATEN_CPU_CAPABILITY=default) the ops take
    # the scalar loops: the same forward and gradients, bitwise.
    script = """
import sys, torch, vfi_ops
from vfi_ops import _C
args = torch.load(sys.argv[1])
input = args["input"].requires_grad_()
flow = args["flow"].requires_grad_()
out = vfi_ops.backward_warp(input, flow, args["mode"])
out.backward(args["grad"])
torch.save({"isa": _C.cpu_vector_isa(), "out": out.detach(), "gi": input.grad, "gf": flow.grad}, sys.argv[2])
"""
    torch.manual_seed(3)
    results = []
    for mode in ("zeros", "border"):
        input = torch.randn(1, 3, 21, 35)
        flow = torch.randn(1, 2, 23, 33) * 8
        flow[:, :, ::2] = flow[:, :, ::2].round()
        results.append(dict(input=input, flow=flow, mode=mode, grad=torch.randn(1, 3, 23, 33)))
    here = []
    for r in results:
        input, flow = r["input"].clone().requires_grad_(), r["flow"].clone().requires_grad_()
        out = vfi_ops.backward_warp(input, flow, r["mode"])
        out.backward(r["grad"])
        here.append((out.detach(), input.grad, flow.grad))
    with tempfile.TemporaryDirectory() as d:
        for i, r in enumerate(results):
            src, dst = os.path.join(d, f"in{i}.pt"), os.path.join(d, f"out{i}.pt")
            torch.save(r, src)
            env = dict(os.environ, ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
            subprocess.run([sys.executable, "-c", script, src, dst], check=True, env=env)
            got = torch.load(dst)
            assert got["isa"] == "none"
            # The forward bitwise; the gradients up to the order the threads add them in.
            assert torch.equal(got["out"], here[i][0])
            torch.testing.assert_close(got["gi"], here[i][1], rtol=1e-6, atol=1e-6)
            assert torch.equal(got["gf"], here[i][2])
