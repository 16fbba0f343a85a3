import json
import os
import subprocess
import sys

import pytest
import torch

import vfi_ops
from vfi_ops import _ext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = {
    "adaptive_warp",
    "backward_warp",
    "flow_projection",
    "softsplat",
    "sparse_masked_conv2d",
    "correlation",
    "corr_lookup",
}


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


@pytest.mark.skipif(vfi_ops.build_info()["CUDA kernels"], reason="a build with CUDA kernels has no stubs")
def test_cpu_only_build_explains_cuda_tensors():
    # The CUDA kernel of a CPU-only build is a stub naming the op and the fix;
    # reached here by redispatching to the CUDA key (no GPU needed).
    x, flow = torch.randn(1, 1, 4, 4), torch.zeros(1, 2, 4, 4)
    cuda = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)
    with pytest.raises(
        RuntimeError, match=r"vfi_ops\.backward_warp: vfi_ops was built without CUDA support.*FORCE_CUDA=1"
    ):
        torch.ops.vfi_ops.backward_warp.default.redispatch(cuda, x, flow, "zeros")
    with pytest.raises(RuntimeError, match=r"vfi_ops\.sparse_masked_conv2d\.out: vfi_ops was built without CUDA"):
        torch.ops.vfi_ops.sparse_masked_conv2d.out.redispatch(
            cuda,
            x,
            torch.randn(1, 1, 1, 1),
            None,
            torch.ones(1, 1, 4, 4),
            [1, 1],
            [0, 0],
            [1, 1],
            1,
            None,
            out=torch.empty(1, 1, 4, 4),
        )


def test_python_m_vfi_ops_prints_build_info():
    out = subprocess.run([sys.executable, "-m", "vfi_ops"], capture_output=True, text=True, check=True).stdout
    assert torch.__version__ in out and "backward_warp" in out and "CUDA kernels" in out


def test_torch_version_mismatch_is_explained():
    _ext.check_torch_version(torch.__version__, torch.__version__)  # same: fine
    with pytest.raises(
        ImportError, match=r"built against torch 1\.0\.0, but torch 2\.9\.9 is installed.*--no-build-isolation"
    ):
        _ext.check_torch_version("1.0.0", "2.9.9")


def test_every_op_has_cpu_and_meta_kernels():
    for name in vfi_ops.build_info()["ops"]:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops::{name}", "CPU"), name
        # register_fake puts the fake kernel on the Meta key
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"vfi_ops::{name}", "Meta"), name


def test_benchmark_harness_runs(tmp_path):
    # The numbers are not checked (benchmarks are not tests); the harness, its
    # table and its JSON are.
    path = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--device",
            "cpu",
            "--quick",
            "--full",
            "--min-run-time",
            "0.01",
            "--json",
            str(path),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    payload = json.loads(path.read_text())
    results = payload["results"]
    assert {r["op"] for r in results} == OPS | {"DAIN model", "UGSP model"}
    assert {r["mode"] for r in results} == {"forward", "forward+backward"}
    assert all(r["ours_ms"] > 0 and r["baseline_ms"] > 0 for r in results)
    assert payload["wall_seconds"] > 0
    out = run.stdout
    for baseline in ("grid_sample", "index_add", "gather", "F.conv2d", "reference ops", "its dense mode"):
        assert f" vs {baseline} (cpu, float32)" in out
    rows = [line for line in out.splitlines() if line.startswith("quick")]
    assert len(rows) == len(results)  # every row printed, in the order measured
    assert all(len(line) <= 80 for line in out.splitlines())
    for noise in ("profiler_start", "profiler_stop", "gpuGetDeviceCount", "CUDA_HOME"):
        assert noise not in out + run.stderr


def test_readme_benchmark_table_uses_the_benchmarks_case_names():
    # Each row of the README's table names an op and a case the default run measures.
    sys.path.insert(0, ROOT)
    try:
        from benchmarks.__main__ import OPS as BENCH_OPS
    finally:
        sys.path.remove(ROOT)
    measured = {
        (case.op, case.name)
        for module in BENCH_OPS.values()
        for case in module.cases("cpu", quick=False, full=False, min_run_time=1.0)
    }
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    table = readme[readme.index("| op | case | mode |") :].split("\n\n")[0].splitlines()[2:]
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]) for line in table}
    op_rows = {row for row in rows if row[0] in OPS}
    assert op_rows and op_rows <= measured, op_rows - measured
