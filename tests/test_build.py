import json
import os
import subprocess
import sys

import pytest
import torch

import vfi_ops
from vfi_ops import _ext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = {"adaptive_warp", "backward_warp", "flow_projection", "softsplat", "sparse_masked_conv2d"}


def test_build_info_describes_this_build():
    info = vfi_ops.build_info()
    assert info["torch (built with)"] == torch.__version__
    for op in OPS:
        assert {op, f"{op}_backward"} <= set(info["ops"])
    if info["CUDA kernels"]:
        assert info["CUDA version (built with)"] == torch.version.cuda
        assert info["CUDA architectures"]
        assert OPS <= set(info["ops with CUDA kernels"])
    else:
        assert info["ops with CUDA kernels"] == []


@pytest.mark.skipif(os.environ.get("FORCE_CUDA") != "1", reason="only checked when FORCE_CUDA=1 was set for the build")
def test_force_cuda_build_has_cuda_kernels():
    info = vfi_ops.build_info()
    assert info["CUDA kernels"] and set(info["ops with CUDA kernels"]) == set(info["ops"])


def test_python_m_vfi_ops_prints_build_info():
    out = subprocess.run([sys.executable, "-m", "vfi_ops"], capture_output=True, text=True, check=True).stdout
    assert torch.__version__ in out and "backward_warp" in out and "CUDA kernels" in out


def test_torch_version_mismatch_is_explained():
    _ext.check_torch_version(torch.__version__, torch.__version__)  # same: fine
    with pytest.raises(ImportError, match=r"built against torch 1\.0\.0, but torch 2\.9\.9 is installed.*--no-build-isolation"):
        _ext.check_torch_version("1.0.0", "2.9.9")


def test_every_op_has_cpu_and_meta_kernels():
    for name in vfi_ops.build_info()["ops"]:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops::{name}", "CPU"), name
        # register_fake puts the fake kernel on the Meta key
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops::{name}", "Meta"), name


def test_benchmark_harness_runs(tmp_path):
    # The numbers are not checked (benchmarks are not tests); the harness and its JSON are.
    path = tmp_path / "bench.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "--device", "cpu", "--quick", "--min-run-time", "0.01",
                    "--json", str(path)], cwd=ROOT, check=True, capture_output=True)
    results = json.loads(path.read_text())["results"]
    assert {r["op"] for r in results} == OPS | {"DAIN model", "UGSP model"}
    assert {r["mode"] for r in results} == {"forward", "forward+backward"}
    assert all(r["ours_ms"] > 0 and r["baseline_ms"] > 0 for r in results)
