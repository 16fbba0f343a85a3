import os
import shutil
import tempfile

# torch.compile's on-disk caches are keyed by torch's own code, not by our
# operators' Python registrations: a cache filled by another build of vfi_ops on
# the same machine (another checkout) could hand back graphs made with its fake
# kernels. Each test session compiles into its own cache.
_COMPILE_CACHE = tempfile.mkdtemp(prefix="vfi_ops-tests-inductor-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _COMPILE_CACHE

import pytest  # noqa: E402
import torch  # noqa: E402

HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    # Tests marked `cuda` need a GPU; without one they are skipped, with the reason shown.
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)
