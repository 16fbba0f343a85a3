"""What every public op says when an argument that must be a tensor is not one."""

import pytest
import torch

import vfi_ops


def _public_calls():
    x, flow, mask = torch.randn(1, 3, 4, 5), torch.zeros(1, 2, 4, 5), torch.ones(1, 1, 4, 5, dtype=torch.bool)
    kernel, weight = torch.rand(1, 16, 4, 5), torch.randn(3, 3, 3, 3)
    return [
        (lambda: vfi_ops.backward_warp(None, flow), "backward_warp", "input"),
        (lambda: vfi_ops.backward_warp(x, None), "backward_warp", "flow"),
        (lambda: vfi_ops.flow_projection(None), "flow_projection", "flow"),
        (lambda: vfi_ops.flow_projection(flow, "w"), "flow_projection", "weight"),
        (lambda: vfi_ops.adaptive_warp(x, flow, None), "adaptive_warp", "kernel"),
        (lambda: vfi_ops.adaptive_warp(x, [kernel], kernel), "adaptive_warp", "flow"),
        (lambda: vfi_ops.softsplat(None, flow, None, "sum"), "softsplat", "input"),
        (lambda: vfi_ops.softsplat(x, flow, 1.0, "soft"), "softsplat", "metric"),
        (lambda: vfi_ops.sparse_masked_conv2d(x, weight, None, None), "sparse_masked_conv2d", "mask"),
        (lambda: vfi_ops.sepconv(x, None, kernel), "sepconv", "vertical"),
        (lambda: vfi_ops.sepconv(x, kernel, 1.0), "sepconv", "horizontal"),
        (lambda: vfi_ops.adacof(None, kernel, kernel, kernel), "adacof", "input"),
        (lambda: vfi_ops.adacof(x, kernel, kernel, [kernel]), "adacof", "offset_x"),
        (lambda: vfi_ops.sparse_masked_conv2d(x.numpy(), weight, None, mask), "sparse_masked_conv2d", "input"),
        (lambda: vfi_ops.correlation(None, x, 4), "correlation", "input1"),
        (lambda: vfi_ops.correlation(x, x.numpy(), 4), "correlation", "input2"),
        (lambda: vfi_ops.corr_lookup(x, None, flow, 4), "corr_lookup", "fmap2"),
        (lambda: vfi_ops.corr_lookup(x, x, flow.numpy(), 4), "corr_lookup", "coords"),
    ]


@pytest.mark.parametrize("index", range(len(_public_calls())))
def test_public_functions_name_an_argument_that_is_not_a_tensor(index):
    call, op, name = _public_calls()[index]
    with pytest.raises(TypeError, match=rf"^{op}\(\): expected {name} to be a Tensor, but got "):
        call()


def test_every_op_has_a_case():
    from vfi_ops._op_list import OPS

    assert {op for _, op, _ in _public_calls()} == set(OPS)
