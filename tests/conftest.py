import collections
import contextlib
import os
import shutil
import tempfile

# torch.compile's on-disk caches are keyed by torch's own code, not by our
# operators' Python registrations: a cache filled by another build of vfi_ops on
# the same machine (another checkout) could hand back graphs made with its fake
# kernels. Each test session compiles into its own cache.
_COMPILE_CACHE = tempfile.mkdtemp(prefix="vfi_ops-tests-inductor-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _COMPILE_CACHE
# Deterministic mode on torch releases before 2.9 makes cuBLAS raise unless its
# workspace is fixed (read when the first cuBLAS handle is made, so set it now).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import pytest  # noqa: E402
import torch  # noqa: E402

HAS_CUDA = torch.cuda.is_available()


def pytest_configure(config):
    # Registered here rather than in pyproject.toml, so that runs without the
    # project's settings have them too (the CI runs the op tests against an
    # installed wheel that way).
    for line in (
        "cuda: needs a CUDA GPU (skipped without one)",
        "emulated: runs the CUDA kernels emulated on the CPU (tests/cuda_emulation.py)",
        "slow: takes more than a few seconds",
        "op: tests an operator's kernels or reference (set by conftest.py: every test_<op>*.py file and "
        "OpTester subclass, for each op of vfi_ops/_op_list.py; the CI runs these against the oldest torch)",
    ):
        config.addinivalue_line("markers", line)


def _tests_an_op(item):
    """True for the tests of an operator: in a file test_<op>.py or test_<op>_*.py of
    an op of the list, or in a subclass of OpTester wherever it is."""
    from op_tester import OpTester
    from vfi_ops._op_list import OPS

    name = os.path.basename(str(item.path))
    if any(name == f"test_{op}.py" or name.startswith(f"test_{op}_") for op in OPS):
        return True
    cls = getattr(item, "cls", None)
    return cls is not None and issubclass(cls, OpTester)


def pytest_collection_modifyitems(config, items):
    # Tests marked `cuda` need a GPU; without one they are skipped, with the reason shown.
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip)
        if _tests_an_op(item):
            item.add_marker(pytest.mark.op)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
    # torch.compile in older torch (2.4) loads code built with -ffast-math, which
    # turns on flush-to-zero for the whole process; tests of denormal weights and
    # gradients need IEEE arithmetic back.
    torch.set_flush_denormal(False)


@pytest.fixture(autouse=True)
def _ieee_float32():
    # Tests compare CUDA results with the CPU's (or the reference's) at float32
    # tolerances: cuBLAS and cuDNN must not use TF32 for float32 unless a test
    # asks for it.
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


class Backend:
    """Where an op runs: its torch library (`ops`) and the device of its tensors."""

    def __init__(self, name, ops, device):
        self.name, self.ops, self.device = name, ops, device

    @contextlib.contextmanager
    def count(self, op, args):
        """Counts the emulated cases an op runs, by dtype and index type (see op_tester)."""
        if self.name != "cuda-emulated":
            yield
            return
        before = self.ops._emulation_stats()
        yield
        after = self.ops._emulation_stats()
        dtype = next((a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()), None)
        from op_tester import EMULATED_CASES

        for kind, i in (("int32", 3), ("int64", 4)):
            if after[i] > before[i]:
                EMULATED_CASES[(op, str(dtype).replace("torch.", ""), kind)] += 1

    @contextlib.contextmanager
    def configure(self, **settings):
        """Runs the body with other emulation settings (see csrc/cuda/emulation.cpp)."""
        self.ops._emulation_configure(**settings)
        try:
            yield
        finally:
            self.ops._emulation_configure()


def _cpu():
    import vfi_ops  # noqa: F401  (loads torch.ops.vfi_ops)

    return Backend("cpu", torch.ops.vfi_ops, "cpu")


def _emulated():
    import cuda_emulation

    backend = Backend("cuda-emulated", cuda_emulation.load(), "cpu")
    backend.ops._emulation_configure()
    return backend


def _cuda():
    import vfi_ops  # noqa: F401

    return Backend("cuda", torch.ops.vfi_ops, "cuda")


MAKERS = {"cpu": _cpu, "cuda-emulated": _emulated, "cuda": _cuda}
EMULATED = pytest.param("cuda-emulated", marks=pytest.mark.emulated)
CUDA = pytest.param("cuda", marks=pytest.mark.cuda)


@pytest.fixture(params=["cpu", EMULATED, CUDA])
def backend(request):
    """Every backend: the CPU kernels, the emulated CUDA kernels, the CUDA kernels."""
    return MAKERS[request.param]()


@pytest.fixture(params=[EMULATED, CUDA])
def gpu_backend(request):
    """The CUDA kernels, emulated or on a GPU."""
    return MAKERS[request.param]()


@pytest.fixture
def cpu_backend():
    return _cpu()


@pytest.fixture(params=[EMULATED])
def emulated_backend(request):
    return _emulated()


def skip_reasons(reports):
    """{reason: count} of skipped test reports, most frequent first."""
    counts = collections.Counter()
    for report in reports:
        if isinstance(report.longrepr, tuple):  # (file, line, "Skipped: reason")
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        else:
            reason = str(getattr(report, "wasxfail", "") or report.longrepr)
        counts[reason] += 1
    return dict(counts.most_common())


def pytest_terminal_summary(terminalreporter):
    from op_tester import EMULATED_CASES

    # Why tests skipped, in one line (pytest -rs lists them one by one).
    reasons = skip_reasons(terminalreporter.stats.get("skipped", []))
    if reasons:
        terminalreporter.write_line(
            f"{sum(reasons.values())} skipped: " + "; ".join(f"{n} {reason}" for reason, n in reasons.items())
        )
    if not EMULATED_CASES:
        return
    terminalreporter.section("emulated CUDA cases (op, dtype, index type)")
    for (op, dtype, kind), n in sorted(EMULATED_CASES.items()):
        terminalreporter.write_line(f"{op:<22} {dtype:<9} {kind:<6} {n}")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)
