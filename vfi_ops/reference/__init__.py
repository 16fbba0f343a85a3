"""Pure-PyTorch references of the vfi_ops operators.

Independent of the compiled kernels: the tests compare against them, the
benchmarks time them as the best plain-PyTorch way to compute the same thing.
"""

from .adaptive_warp import adaptive_warp
from .backward_warp import backward_warp, grid_sample_warp
from .corr_lookup import corr_lookup, raft_corr_pyramid
from .correlation import correlation
from .flow_projection import flow_projection
from .softsplat import softsplat
from .sparse_masked_conv2d import sparse_masked_conv2d

__all__ = [
    "adaptive_warp",
    "backward_warp",
    "corr_lookup",
    "correlation",
    "flow_projection",
    "grid_sample_warp",
    "raft_corr_pyramid",
    "softsplat",
    "sparse_masked_conv2d",
]
