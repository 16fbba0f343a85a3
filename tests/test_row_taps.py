"""The CPU kernels' vectorised tap routines (csrc/cpu/row_taps.h) against the
scalar definitions of the shared headers (bilinear_math.h, adaptive_warp_math.h): bitwise
the same offsets, weights, masks and gradient coefficients, exact positions and
non-finite flows included; and the ops that use them (backward_warp, whose
float32 forward also has AVX2 loops, softsplat, adaptive_warp) against the
same ops with ATen's CPU capability lowered, which runs the scalar code. The op
tests (test_backward_warp.py, ...) run the vectorised routines inside the ops."""

import os
import subprocess
import sys
import tempfile

import pytest
import torch

import vfi_ops
from helpers import sprinkle_non_finite
from op_tester import num_threads
from vfi_ops import _C

# Kernel and reference tests of every op: run against the oldest torch too (see conftest.py).
pytestmark = pytest.mark.op

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


# Run by test_scalar_build_gives_the_same_results in a process whose ATen CPU
# capability is lowered: each case's results and gradients, one thread.
SCALAR_BUILD_SCRIPT = """
import sys, torch, vfi_ops
from vfi_ops import _C
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[3])
from test_row_taps import run_case
results = [run_case(case) for case in torch.load(sys.argv[1], weights_only=True)]
torch.save({"isa": _C.cpu_vector_isa(), "results": results}, sys.argv[2])
"""


def run_case(case):
    """An op's forward and the gradients of every float input (None where it has none)."""
    args = [a.clone().requires_grad_() if torch.is_tensor(a) and a.is_floating_point() else a for a in case["args"]]
    out = getattr(vfi_ops, case["op"])(*args)
    out.backward(case["grad"])
    return [out.detach()] + [a.grad for a in args if torch.is_tensor(a) and a.requires_grad]


def warp_flow(B, H, W, h_in, w_in, dtype, g):
    """Smooth motion with some rows landing on integers and some pixels exactly
    on, or just past, the edges: vectors of 8 pixels with all taps inside, with
    some outside, and mixed."""
    flow = torch.randn(B, 2, H, W, dtype=dtype, generator=g) * 3
    flow[:, :, ::3] = flow[:, :, ::3].round()
    xs = torch.arange(W, dtype=dtype)
    ys = torch.arange(H, dtype=dtype).view(H, 1)
    edge_x = torch.tensor([-1.0, -0.5, 0.0, w_in - 1.0, w_in - 0.5, float(w_in)], dtype=dtype)
    edge_y = torch.tensor([-1.0, 0.0, h_in - 1.0, h_in - 0.75, float(h_in)], dtype=dtype)
    pick = torch.rand(B, H, W, generator=g) < 0.1
    ex = edge_x[torch.randint(0, len(edge_x), (B, H, W), generator=g)] - xs
    ey = edge_y[torch.randint(0, len(edge_y), (B, H, W), generator=g)] - ys
    flow[:, 0] = torch.where(pick, ex, flow[:, 0])
    flow[:, 1] = torch.where(pick.roll(1, 2), ey, flow[:, 1])
    return flow


def sub_pixel_flow(B, H, W, dtype, g):
    """Every pixel moves right and down by 0.1 to 0.9 pixels: sampling an input
    one pixel larger each way, all its taps are inside (every full vector of 8
    pixels takes the AVX2 loops' pair loads)."""
    return 0.1 + 0.8 * torch.rand(B, 2, H, W, dtype=dtype, generator=g)


def scalar_build_cases():
    g = torch.Generator().manual_seed(3)
    cases = []
    # All taps inside: rows of whole vectors (8, 16: NHWC's last pixel stored
    # alone) and with a partial one (21).
    for C, layout in [(1, "nchw"), (3, "nchw"), (6, "nchw"), (3, "nhwc"), (4, "nhwc")]:
        for W in (8, 16, 21):
            input = torch.randn(2, C, 6, W + 1, generator=g)
            if layout == "nhwc":
                input = input.contiguous(memory_format=torch.channels_last)
            flow = sub_pixel_flow(2, 5, W, torch.float32, g)
            grad = torch.randn(2, C, 5, W, generator=g)
            cases.append(dict(op="backward_warp", args=[input, flow, "zeros"], grad=grad))
    # Zero and integer flows (every tap inside, weights 1 and 0), non-finite and
    # far flows, and input values at the ends of float32's range (overflowing
    # sums, subnormals).
    for C, layout in [(3, "nchw"), (3, "nhwc"), (4, "nhwc")]:
        input = torch.randn(1, C, 8, 20, generator=g)
        flat = input.view(-1)
        flat[::7], flat[3::11], flat[5::13] = 3.0e38, -3.0e38, 1e-45
        if layout == "nhwc":
            input = input.contiguous(memory_format=torch.channels_last)
        integer = torch.randint(0, 3, (1, 2, 5, 16), generator=g).float()
        far = sprinkle_non_finite(warp_flow(1, 5, 16, 8, 20, torch.float32, g), 0.2)
        for flow, mode in [(torch.zeros(1, 2, 5, 16), "zeros"), (integer, "zeros"), (far, "zeros"), (far, "border")]:
            grad = torch.randn(1, C, 5, 16, generator=g)
            cases.append(dict(op="backward_warp", args=[input, flow, mode], grad=grad))
    # Planes one pixel high or wide: no pair of rows or columns inside.
    for h_in, w_in in [(1, 40), (9, 1)]:
        input = torch.randn(1, 3, h_in, w_in, generator=g).contiguous(memory_format=torch.channels_last)
        for x in (input, input.contiguous()):
            flow = warp_flow(1, 4, 37, h_in, w_in, torch.float32, g)
            cases.append(dict(op="backward_warp", args=[x, flow, "border"], grad=torch.randn(1, 3, 4, 37, generator=g)))
    for dtype in (torch.float32, torch.float64):
        for C, layout in [(1, "nchw"), (3, "nchw"), (5, "nchw"), (3, "nhwc"), (4, "nhwc"), (5, "nhwc")]:
            for mode in ("zeros", "border"):
                for (H, W), (h_in, w_in) in [((5, 8), (6, 9)), ((7, 37), (9, 35))]:
                    input = torch.randn(2, C, h_in, w_in, dtype=dtype, generator=g)
                    if layout == "nhwc":
                        input = input.contiguous(memory_format=torch.channels_last)
                    flow = warp_flow(2, H, W, h_in, w_in, dtype, g)
                    grad = torch.randn(2, C, H, W, dtype=dtype, generator=g)
                    cases.append(dict(op="backward_warp", args=[input, flow, mode], grad=grad))
        # An inf in pixel 0 (the loops that mask the taps outside).
        input = torch.randn(1, 3, 9, 35, dtype=dtype, generator=g)
        input[0, 1, 0, 0] = float("inf")
        flow = warp_flow(1, 7, 37, 9, 35, dtype, g)
        cases.append(dict(op="backward_warp", args=[input, flow, "zeros"], grad=torch.randn(1, 3, 7, 37, dtype=dtype)))
        # The other ops whose taps (softsplat) and windows (adaptive_warp) are vectorised.
        input = torch.randn(2, 3, 7, 37, dtype=dtype, generator=g)
        flow = warp_flow(2, 7, 37, 7, 37, dtype, g)
        metric = torch.randn(2, 1, 7, 37, dtype=dtype, generator=g)
        for mode in ("sum", "soft"):
            args = [input, flow, metric if mode == "soft" else None, mode]
            cases.append(dict(op="softsplat", args=args, grad=torch.randn(2, 3, 7, 37, dtype=dtype, generator=g)))
        kernel = torch.rand(2, 16, 7, 37, dtype=dtype, generator=g)
        cases.append(
            dict(
                op="adaptive_warp", args=[input, flow, kernel], grad=torch.randn(2, 3, 7, 37, dtype=dtype, generator=g)
            )
        )
    return cases


@needs_vector_isa
def test_scalar_build_gives_the_same_results():
    # With ATen's CPU capability lowered (ATEN_CPU_CAPABILITY=default) the ops take
    # the scalar loops: the same results and gradients, bitwise, on one thread.
    # Covers the vectorised taps and windows, and backward_warp's AVX2 forward
    # loops (NCHW, NHWC with 3 and 4 channels; vectors of 8 pixels with every tap
    # inside, with some outside, partial ones; and the other layouts and dtypes,
    # which keep the scalar loops).
    cases = scalar_build_cases()
    with num_threads(1):
        here = [run_case(case) for case in cases]
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "cases.pt"), os.path.join(d, "results.pt")
        torch.save(cases, src)
        env = dict(os.environ, ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
        tests_dir = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, "-c", SCALAR_BUILD_SCRIPT, src, dst, tests_dir], check=True, env=env)
        got = torch.load(dst, weights_only=True)
    assert got["isa"] == "none"
    for case, want, results in zip(cases, here, got["results"]):
        what = f"{case['op']} {case['args'][0].dtype} {list(case['args'][0].shape)} {case['args'][-1]}"
        assert_bitwise(results, want, what)
        assert results[0].stride() == want[0].stride(), what
