"""The ops and the models under torch.autocast, against PyTorch's own ops there:
the warps, the projection and the splat compute in float32 (as grid_sample does),
sparse_masked_conv2d follows conv2d on CUDA (the autocast dtype) and computes in
float32 on CPU (its CPU kernels have no bfloat16). Gradients come back in each
input's own dtype, as they do for grid_sample and conv2d."""

import pytest
import torch
import torch.nn.functional as F
from vfi_ops.models import DAIN
from vfi_ops.models.ugsp import UGSP

import vfi_ops
from helpers import frame_pair, smooth_flow

B, H, W = 2, 12, 16


def warp_inputs(dtype, device):
    """The warps' and splats' arguments, each in `dtype`, as leaves that require grad."""
    g = torch.Generator().manual_seed(0)
    rand = lambda *s: torch.rand(*s, generator=g)
    flow = smooth_flow(B, H, W, 3.0)
    args = {
        "backward_warp": (rand(B, 3, H, W), flow),
        "flow_projection": (flow, rand(B, 1, H, W) + 0.1),
        "adaptive_warp": (rand(B, 3, H, W), flow, rand(B, 16, H, W)),
        "softsplat": (rand(B, 3, H, W), flow, -10 * rand(B, 1, H, W)),
        "sepconv": (rand(B, 3, H, W), rand(B, 3, H - 2, W - 2), rand(B, 3, H - 2, W - 2)),
        "adacof": (rand(B, 3, H, W), rand(B, 4, H - 2, W - 2), *(4 * rand(2, B, 4, H - 2, W - 2) - 2)),
        "correlation": (rand(B, 8, H, W), rand(B, 8, H, W)),
        "corr_lookup": (rand(B, 8, H, W), rand(B, 8, H, W), torch.cat((W * rand(B, 1, H, W), H * rand(B, 1, H, W)), 1)),
    }
    return {name: [t.to(device, dtype).requires_grad_() for t in ts] for name, ts in args.items()}


WARPS = {
    "backward_warp": lambda i, f: vfi_ops.backward_warp(i, f, "border"),
    "flow_projection": lambda f, w: vfi_ops.flow_projection(f, w, True),
    "adaptive_warp": vfi_ops.adaptive_warp,
    "softsplat": lambda i, f, z: vfi_ops.softsplat(i, f, z, "soft"),
    "sepconv": vfi_ops.sepconv,
    "adacof": lambda i, w, oy, ox: vfi_ops.adacof(i, w, oy, ox, dilation=2),
    "correlation": lambda a, b: vfi_ops.correlation(a, b, 2),
    "corr_lookup": lambda a, b, c: vfi_ops.corr_lookup(a, b, c, 2),
}


def grid_sample_dtypes(dtype, device, amp_dtype):
    """Output and gradient dtypes of grid_sample under autocast, for inputs in `dtype`."""
    input = torch.rand(B, 3, H, W, device=device, dtype=dtype, requires_grad=True)
    grid = (torch.rand(B, H, W, 2, device=device, dtype=dtype) * 2 - 1).requires_grad_()
    with torch.autocast(device, dtype=amp_dtype):
        out = F.grid_sample(input, grid, align_corners=True)
        grads = torch.autograd.grad(out.sum(), (input, grid))
    return out.dtype, [g.dtype for g in grads]


def check_warp(name, dtype, device, amp_dtype):
    args = warp_inputs(dtype, device)[name]
    with torch.autocast(device, dtype=amp_dtype):
        out = WARPS[name](*args)
        grads = torch.autograd.grad(out.square().sum(), args)
    gs_out, gs_grads = grid_sample_dtypes(dtype, device, amp_dtype)
    assert out.dtype == gs_out == torch.float32
    assert [g.dtype for g in grads] == [a.dtype for a in args] == [gs_grads[0]] * len(args)
    # Exactly what the op computes on float32 copies of the arguments (the casts are exact).
    exact = [a.detach().float().requires_grad_() for a in args]
    want = WARPS[name](*exact)
    want_grads = torch.autograd.grad(want.square().sum(), exact)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    for g, w in zip(grads, want_grads):
        torch.testing.assert_close(g, w.to(g.dtype), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(WARPS))
def test_warps_run_in_float32_on_cpu(name, dtype):
    check_warp(name, dtype, "cpu", torch.bfloat16)


@pytest.mark.parametrize("name", sorted(WARPS))
def test_float64_is_left_alone(name):
    args = warp_inputs(torch.float64, "cpu")[name]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = WARPS[name](*args)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, WARPS[name](*args), rtol=0, atol=0)


def conv_inputs(dtype, device):
    g = torch.Generator().manual_seed(1)
    rand = lambda *s: torch.randn(*s, generator=g).to(device, dtype).requires_grad_()
    # A float mask with tiny nonzero entries: active, and never cast (1e-8 is 0 in float16).
    mask = torch.where(torch.rand(B, 1, H, W, generator=g) < 0.3, 1e-8, 0.0).to(device)
    return rand(B, 4, H, W), rand(5, 4, 3, 3), rand(5), mask, rand(B, 5, H, W)


def check_conv(dtype, device, amp_dtype, want_dtype):
    input, weight, bias, mask, fill = conv_inputs(dtype, device)
    params = (input, weight, bias, fill)
    with torch.autocast(device, dtype=amp_dtype):
        out = vfi_ops.sparse_masked_conv2d(input, weight, bias, mask, padding=1, fill=fill)
        grads = torch.autograd.grad(out.float().square().sum(), params)
        conv = F.conv2d(input, weight, bias, padding=1)
        conv_grads = torch.autograd.grad(conv.float().square().sum(), (input, weight, bias))
    assert out.dtype == want_dtype
    assert [g.dtype for g in grads] == [p.dtype for p in params]
    assert [g.dtype for g in grads[:3]] == [g.dtype for g in conv_grads]
    # The same function, computed in want_dtype (float accumulation).
    same = [p.detach().to(want_dtype) for p in params]
    want = torch.where(
        mask != 0, F.conv2d(same[0].float(), same[1].float(), same[2].float(), padding=1), same[3].float()
    )
    tol = {} if want_dtype == torch.float32 else {"rtol": 2e-2, "atol": 2e-2}
    torch.testing.assert_close(out.float(), want, **tol)
    return conv


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sparse_masked_conv2d_runs_in_float32_on_cpu(dtype):
    # conv2d runs in bfloat16 there; the CPU kernels have only float32 and float64.
    conv = check_conv(dtype, "cpu", torch.bfloat16, torch.float32)
    assert conv.dtype == torch.bfloat16


def test_out_overload_is_not_autocast():
    # As PyTorch's out= variants: the arguments' dtype, whatever the autocast dtype.
    input, weight, bias, mask, fill = (t.detach() for t in conv_inputs(torch.float32, "cpu"))
    out = torch.empty(B, 5, H, W)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert vfi_ops.sparse_masked_conv2d(input, weight, bias, mask, padding=1, fill=fill, out=out) is out
    torch.testing.assert_close(
        out, vfi_ops.sparse_masked_conv2d(input, weight, bias, mask, padding=1, fill=fill), rtol=0, atol=0
    )


def train_step(model, device, amp_dtype, **kwargs):
    """One optimiser step under autocast; returns the output."""
    I0, I1 = (f.to(device) for f in frame_pair(1, 32, 48))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with torch.autocast(device, dtype=amp_dtype):
        out = model(I0, I1, 0.5, **kwargs)
        loss = (out - 0.5 * (I0 + I1)).abs().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    optimizer.step()
    assert out.shape == I0.shape and torch.isfinite(out).all()
    return out


@pytest.mark.parametrize("model_class", [DAIN, UGSP])
def test_models_train_a_step_under_cpu_autocast(model_class):
    torch.manual_seed(0)
    out = train_step(model_class(width=8), "cpu", torch.bfloat16)
    assert out.dtype == torch.float32  # the final warps and blends are float32


def test_ugsp_sparse_inference_under_cpu_autocast():
    torch.manual_seed(0)
    model = UGSP(width=8).eval()
    I0, I1 = frame_pair(1, 32, 48)
    with torch.no_grad():
        want = model(I0, I1, 0.5, keep=0.3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            sparse = model(I0, I1, 0.5, keep=0.3)  # hidden layers through out= buffers
            masked = model(I0, I1, 0.5, keep=0.3, mode="masked")
    assert sparse.dtype == torch.float32 and torch.isfinite(sparse).all()
    torch.testing.assert_close(sparse, want, rtol=0.05, atol=0.05)
    torch.testing.assert_close(masked, want, rtol=0.05, atol=0.05)


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", sorted(WARPS))
def test_cuda_warps_run_in_float32(name, dtype):
    check_warp(name, dtype, "cuda", torch.float16)


@pytest.mark.cuda
@pytest.mark.parametrize("amp_dtype", [torch.float16, torch.bfloat16])
def test_cuda_sparse_masked_conv2d_follows_conv2d(amp_dtype):
    conv = check_conv(torch.float32, "cuda", amp_dtype, amp_dtype)
    assert conv.dtype == amp_dtype


@pytest.mark.cuda
@pytest.mark.parametrize("model_class", [DAIN, UGSP])
def test_cuda_models_train_a_step_under_autocast(model_class):
    torch.manual_seed(0)
    out = train_step(model_class(width=8).cuda(), "cuda", torch.float16)
    assert out.dtype == torch.float32


def test_every_op_is_covered():
    # The warps above, sparse_masked_conv2d in its own tests below.
    from vfi_ops._op_list import OPS

    assert set(WARPS) | {"sparse_masked_conv2d"} == set(OPS)
