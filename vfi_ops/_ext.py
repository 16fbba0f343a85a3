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
    from . import _C  # registers the torch.ops.vfi_ops operators
except ImportError as err:
    raise ImportError(f"vfi_ops: loading the compiled extension failed ({err}). {REBUILD_HINT}") from err


# Both lists come from the extension itself: the schemas it declares, and the ops
# its CUDA kernels were registered for (none in a CPU-only build, where CUDA
# tensors get a "built without CUDA support" error registered in C++).
OP_NAMES = sorted(_C.op_names())
CUDA_OPS = sorted(_C.cuda_op_names())


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
