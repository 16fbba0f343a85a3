import csv
import json
import os
import re
import subprocess
import sys

import pytest
import torch

import vfi_ops
from vfi_ops import _ext, _op_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = set(_op_list.OPS)


def test_the_op_list_names_every_compiled_op():
    # vfi_ops/_op_list.py and the schemas of csrc/ops.cpp name the same ops (each
    # with its _backward op); every op is exported with its reference.
    names = set(_ext.OP_NAMES)
    assert {n for n in names if "." not in n and not n.endswith("_backward")} == OPS
    assert {f"{op}_backward" for op in OPS} <= names
    for op in OPS:
        assert callable(getattr(vfi_ops, op)) and callable(getattr(vfi_ops.reference, op))
        assert op in vfi_ops.__all__ and op in vfi_ops.reference.__all__


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
    # every row printed (a long case name on a line of its own above it)
    rows = [line for line in out.splitlines() if re.search(r" (fwd|fwd\+bwd) +[0-9]", line)]
    assert len(rows) == len(results)
    assert all(len(line) <= 95 for line in out.splitlines())  # the widest table, with x floor: 93
    headers = [line for line in out.splitlines() if line.startswith("case ")]
    assert headers and all(line.endswith(" status") for line in headers)  # the status column has a header
    for noise in ("profiler_start", "profiler_stop", "gpuGetDeviceCount", "CUDA_HOME"):
        assert noise not in out + run.stderr


def test_docs_benchmark_table_uses_the_benchmarks_case_names():
    # Each row of the docs' table (docs/benchmarks.rst) names an op and a case the default run measures.
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
    with open(os.path.join(ROOT, "docs", "benchmarks.rst")) as f:
        page = f.read()
    table = page[page.index('   "op", "case", "mode"') :].split("\n\n")[0].splitlines()[1:]
    rows = {tuple(next(csv.reader([line.strip()], skipinitialspace=True))[:2]) for line in table}
    op_rows = {row for row in rows if row[0] in OPS}
    assert op_rows and op_rows <= measured, op_rows - measured
