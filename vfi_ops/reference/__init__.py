"""Pure-PyTorch references of the vfi_ops operators.

Independent of the compiled kernels: the tests compare against them, the
benchmarks time them as the best plain-PyTorch way to compute the same thing.
"""

import importlib as _importlib

from .._op_list import OPS as _OPS
from .backward_warp import grid_sample_warp
from .corr_lookup import raft_corr_pyramid
from .sepconv import sepconv_rowwise

# vfi_ops.reference.<name> is the function of reference/<name>.py, for every op of the list.
for _name in _OPS:
    globals()[_name] = getattr(_importlib.import_module(f".{_name}", __name__), _name)

__all__ = [*_OPS, "grid_sample_warp", "sepconv_rowwise", "raft_corr_pyramid"]
