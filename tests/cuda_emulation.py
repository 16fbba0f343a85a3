"""The emulated CUDA backend: the csrc/cuda kernels built as C++ and run on the CPU.

No machine we test on has a GPU, yet every CUDA kernel must run in the tests.
``csrc/cuda/emulation.h`` explains how: with VFI_OPS_EMULATED_CUDA defined, the
``.cu`` files compile as C++, their launches run every (block, thread) in turn
(blocks shuffled, threads reversed), fresh outputs start as NaN, and they
register as ``torch.ops.vfi_ops_emulated.*`` for CPU tensors, beside the real
CPU kernels. The test suite runs every op check on this backend too.

:func:`load` builds the library on first use (under ``build/emulated*``,
incrementally: about a minute the first time, seconds after a change to one
file) and loads it. With ``VFI_OPS_EMULATION_SANITIZE=1`` it builds with
AddressSanitizer and UndefinedBehaviorSanitizer instead, which the process
must have preloaded:

    python tests/cuda_emulation.py sanitize [PYTEST ARGS]

runs ``python -m pytest tests -m emulated`` (or the given arguments) so, and
fails at the first out-of-bounds access or undefined behaviour in a kernel.
"""

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
LIBRARY = "vfi_ops_emulated"
SANITIZE = os.environ.get("VFI_OPS_EMULATION_SANITIZE") == "1"
# float-cast-overflow: a float turned into an index must have been checked first.
SANITIZERS = "address,undefined,float-cast-overflow"
RUNTIMES = ("libasan.so", "libubsan.so")
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:alloc_dealloc_mismatch=0:detect_odr_violation=0",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}

_loaded = None


def _sources(build_dir):
    """ops.cpp (the schemas, under the emulated library's name), the backward ops'
    output_mask check, the controls, and one C++ file per .cu file that includes it
    (so every kernel added later is built)."""
    sources = [
        os.path.join(CSRC, f) for f in ("ops.cpp", "output_mask_check.cpp", os.path.join("cuda", "emulation.cpp"))
    ]
    for cu in sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cu"))):
        name = os.path.splitext(os.path.basename(cu))[0]
        wrapper = os.path.join(build_dir, f"{name}_emulated.cpp")
        text = (
            f"// Generated: the CUDA kernels of {name}, compiled as C++ for the emulated backend.\n"
            f'#include "cuda/{name}.cu"\n'
        )
        if not os.path.exists(wrapper) or open(wrapper).read() != text:
            with open(wrapper, "w") as f:
                f.write(text)
        sources.append(wrapper)
    return sources


def runtime_paths():
    """The sanitizer runtimes, which must be loaded before anything else in the process."""
    paths = []
    for lib in RUNTIMES:
        path = subprocess.run(["g++", f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(path):
            raise RuntimeError(f"the sanitizer runtime {lib} was not found (g++ -print-file-name={lib})")
        paths.append(os.path.realpath(path))
    return paths


def load():
    """Builds (if needed) and loads the emulated library; returns ``torch.ops.vfi_ops_emulated``."""
    global _loaded
    if _loaded is not None:
        return _loaded
    import torch
    from torch.utils.cpp_extension import load as load_extension

    import vfi_ops._library

    name = LIBRARY + ("_sanitized" if SANITIZE else "")
    build_dir = os.path.join(ROOT, "build", name)
    os.makedirs(build_dir, exist_ok=True)
    cflags = ["-O1", "-g1", "-DVFI_OPS_EMULATED_CUDA", "-fvisibility=hidden", "-Wno-unused-variable"]
    ldflags = []
    if SANITIZE:
        preload = os.environ.get("LD_PRELOAD", "")
        if not all(p in preload for p in runtime_paths()):
            raise RuntimeError(
                "VFI_OPS_EMULATION_SANITIZE=1 needs the sanitizer runtimes preloaded: "
                "run the tests through `python tests/cuda_emulation.py sanitize`"
            )
        cflags += [f"-fsanitize={SANITIZERS}", "-fno-sanitize=vptr", "-fno-omit-frame-pointer"]
        ldflags += [f"-fsanitize={SANITIZERS}"]
    # The compilers run without the preloaded runtimes; this process keeps them.
    preload = os.environ.pop("LD_PRELOAD", None)
    try:
        load_extension(
            name=name,
            sources=_sources(build_dir),
            extra_cflags=cflags,
            extra_ldflags=ldflags,
            extra_include_paths=[CSRC],
            build_directory=build_dir,
            is_python_module=False,
            with_cuda=False,
            verbose=False,
        )
    finally:
        if preload is not None:
            os.environ["LD_PRELOAD"] = preload
    vfi_ops._library.add_library(LIBRARY)
    _loaded = getattr(torch.ops, LIBRARY)
    return _loaded


def run_sanitized(pytest_args):
    """Runs pytest with the sanitizer runtimes preloaded and the sanitized library selected."""
    env = dict(os.environ, VFI_OPS_EMULATION_SANITIZE="1", **SANITIZER_OPTIONS)
    env["LD_PRELOAD"] = ":".join(runtime_paths() + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    args = pytest_args or [os.path.join(ROOT, "tests"), "-m", "emulated"]
    return subprocess.call([sys.executable, "-m", "pytest"] + args, env=env, cwd=ROOT)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "sanitize":
        sys.exit(__doc__)
    sys.exit(run_sanitized(sys.argv[2:]))
