"""Autograd registration shared by the ops: each op's gradient is its hand-written
``<op>_backward`` op, which itself has no gradient."""

import torch


def register_backward(op: str, backward, setup_context) -> None:
    """Make ``vfi_ops::<op>`` differentiable through ``backward``; differentiating
    ``vfi_ops::<op>_backward`` (double backward) raises a clear error."""

    def no_double_backward(ctx, *grads):
        raise RuntimeError(f"vfi_ops.{op}: double backward (gradients of gradients) is not supported")

    torch.library.register_autograd(f"vfi_ops::{op}", backward, setup_context=setup_context)
    torch.library.register_autograd(f"vfi_ops::{op}_backward", no_double_backward,
                                    setup_context=lambda ctx, inputs, output: None)
