"""The emulated CUDA backend itself (tests/cuda_emulation.py, csrc/cuda/emulation.h)."""

import os
import subprocess
import sys

import pytest
import torch

import cuda_emulation

pytestmark = pytest.mark.emulated


@pytest.fixture(scope="module")
def emulated():
    return cuda_emulation.load()


def test_every_op_and_its_backward_is_emulated(emulated):
    import vfi_ops

    for name in vfi_ops.build_info()["ops"]:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops_emulated::{name}", "CPU"), name


def test_launches_a_gpu_would_refuse_are_refused(emulated):
    with pytest.raises(RuntimeError, match="invalid configuration argument"):
        emulated._emulation_selftest(2, torch.zeros(4))


def test_every_emulated_thread_runs_once(emulated):
    # backward_warp's forward: one emulated thread per output pixel, all of them.
    emulated._emulation_reset_stats()
    emulated.backward_warp(torch.randn(1, 2, 5, 7), torch.zeros(1, 2, 30, 40), "zeros")
    launches, threads, atomics, narrow, wide = emulated._emulation_stats()
    assert (launches, narrow, wide, atomics) == (1, 1, 0, 0)
    assert threads == 5 * 256  # ceil(1200 / 256) blocks of 256


@pytest.mark.skipif(
    not cuda_emulation.SANITIZE, reason="runs in the sanitizer build only (python tests/cuda_emulation.py sanitize)"
)
@pytest.mark.parametrize("which,report", [(0, "AddressSanitizer"), (1, "runtime error")])
def test_sanitizers_catch_faults(which, report):
    # In a child process with the same preloaded runtimes: a fault must stop it with a report.
    code = (
        "import sys; sys.path.insert(0, 'tests'); import torch, cuda_emulation; "
        f"cuda_emulation.load()._emulation_selftest({which}, torch.zeros(8))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cuda_emulation.ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )
    assert child.returncode != 0 and report in child.stderr, child.stderr[-2000:]
