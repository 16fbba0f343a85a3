"""The Python side of each op's registration: fake kernels and autograd.

The compiled schemas and kernels live in a torch library, ``vfi_ops``. The
emulated-CUDA test build registers the same schemas into a second library,
``vfi_ops_emulated`` (the CUDA kernels, run on the CPU), which needs the same
Python registrations. So each op module declares its registration as a
function of the library's name (``@for_each_library``); it runs for
``vfi_ops`` at import and for any library added later with :func:`add_library`.
"""

from typing import Callable, List

import torch

_REGISTRATIONS: List[Callable[[str], None]] = []
_LIBRARIES: List[str] = ["vfi_ops"]


def for_each_library(register: Callable[[str], None]) -> Callable[[str], None]:
    """Decorator: ``register(ns)`` now, for every library known, and for those added later."""
    _REGISTRATIONS.append(register)
    for ns in _LIBRARIES:
        register(ns)
    return register


def add_library(ns: str) -> None:
    """Registers every op's fake kernels and autograd for the torch library ``ns``
    (whose schemas and kernels are already loaded)."""
    if ns in _LIBRARIES:
        return
    _LIBRARIES.append(ns)
    for register in _REGISTRATIONS:
        register(ns)


def register_backward(ns: str, op: str, backward, setup_context) -> None:
    """Make ``ns::<op>`` differentiable through ``backward(ctx, *grads)``, which
    finds the library's ops (e.g. ``<op>_backward``) as ``ctx.ops``; differentiating
    ``ns::<op>_backward`` (double backward) raises a clear error."""

    def setup(ctx, inputs, output):
        ctx.ops = getattr(torch.ops, ns)
        setup_context(ctx, inputs, output)

    def no_double_backward(ctx, *grads):
        raise RuntimeError(f"vfi_ops.{op}: double backward (gradients of gradients) is not supported")

    torch.library.register_autograd(f"{ns}::{op}", backward, setup_context=setup)
    torch.library.register_autograd(
        f"{ns}::{op}_backward", no_double_backward, setup_context=lambda ctx, inputs, output: None
    )
