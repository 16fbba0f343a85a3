"""Loads the compiled operators and reports how they were built."""

import torch

REBUILD_HINT = (
    "Rebuild it against the torch you run with, from the vfi_ops source folder: "
    "pip install --no-build-isolation --force-reinstall --no-deps ."
)

try:
    from . import _build_info
except ImportError as err:  # the source folder, never built
    raise ImportError(
        "vfi_ops: the compiled extension has not been built in this folder. Install the package "
        "(pip install --no-build-isolation .) and import it from elsewhere, or build it in place "
        "(pip install --no-build-isolation -e .)."
    ) from err


def check_torch_version(built_with: str, running: str) -> None:
    """Raise ImportError if the extension was built against another torch than the one running."""
    if built_with != running:
        raise ImportError(
            f"vfi_ops was built against torch {built_with}, but torch {running} is installed; "
            f"its compiled operators cannot be loaded. {REBUILD_HINT}"
        )


check_torch_version(_build_info.TORCH_VERSION, torch.__version__)

try:
    from . import _C  # noqa: F401  (registers the torch.ops.vfi_ops operators)
except ImportError as err:
    raise ImportError(f"vfi_ops: loading the compiled extension failed ({err}). {REBUILD_HINT}") from err


def _op_names() -> list:
    prefix = "vfi_ops::"
    return sorted(n[len(prefix):] for n in torch._C._dispatch_get_all_op_names() if n.startswith(prefix))


OP_NAMES = _op_names()
# Recorded before the CPU-only stubs below are registered.
CUDA_OPS = [n for n in OP_NAMES if torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops::{n}", "CUDA")]


def _register_cuda_stubs() -> None:
    """In a CPU-only build, CUDA tensors get a clear error instead of a dispatcher message."""

    def stub_for(name):
        def stub(*args, **kwargs):
            raise RuntimeError(
                f"vfi_ops.{name}: vfi_ops was built without CUDA support, so it cannot run on CUDA tensors. "
                "Reinstall it where a CUDA toolkit (nvcc) and a CUDA build of torch are present, or force it "
                "with FORCE_CUDA=1: FORCE_CUDA=1 pip install --no-build-isolation --force-reinstall --no-deps ."
            )

        return stub

    for name in OP_NAMES:
        if name not in CUDA_OPS:
            _STUB_LIB.impl(name, stub_for(name), "CUDA")


_STUB_LIB = torch.library.Library("vfi_ops", "IMPL")
_register_cuda_stubs()


def build_info() -> dict:
    """How this copy of vfi_ops was built, and what it runs with."""
    return {
        "vfi_ops": _build_info.VERSION,
        "torch (built with)": _build_info.TORCH_VERSION,
        "torch (running)": torch.__version__,
        "CUDA kernels": _build_info.WITH_CUDA,
        "CUDA version (built with)": _build_info.CUDA_VERSION,
        "CUDA architectures": _build_info.CUDA_ARCH_LIST,
        "ops": OP_NAMES,
        "ops with CUDA kernels": CUDA_OPS,
        "GPU visible": torch.cuda.is_available(),
    }


def format_build_info() -> str:
    info = build_info()
    width = max(len(k) for k in info)
    lines = []
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value) if value else "none"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)
