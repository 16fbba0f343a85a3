"""Argument checks shared by the ops' fake kernels (the Python side of csrc/checks.h)."""

import torch
from torch import Tensor


def check_like(op: str, name: str, t: Tensor, ref_name: str, ref: Tensor, same_dtype: bool = True) -> None:
    """`t` must be on `ref`'s device (ValueError) and, if same_dtype, of its dtype (TypeError)."""
    torch._check_value(
        t.device == ref.device,
        lambda: f"{op}(): expected {name} on the same device as {ref_name} ({ref.device}), but got {t.device}",
    )
    if same_dtype:
        torch._check_type(
            t.dtype == ref.dtype,
            lambda: f"{op}(): expected {name} to have the dtype of {ref_name} ({ref.dtype}), but got {t.dtype}",
        )


def check_tensors(op: str, **args) -> None:
    """Each named argument must be a Tensor: a TypeError naming it otherwise
    (the dispatcher would turn None into an empty tensor, or the Python side
    fail on an attribute)."""
    for name, value in args.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}(): expected {name} to be a Tensor, but got {type(value).__name__}")


def check_output_mask(op: str, output_mask, n: int) -> None:
    """An ``<op>_backward``'s output_mask must have n values (csrc/ops.cpp checks the compiled calls alike)."""
    torch._check_value(
        len(output_mask) == n,
        lambda: (
            f"vfi_ops.{op}(): expected output_mask to have {n} values (one per gradient the op returns, "
            f"in order), but got {len(output_mask)}: {list(output_mask)}"
        ),
    )
