"""Pure-PyTorch references of the vfi_ops operators.

Independent of the compiled kernels: the tests compare against them, the
benchmarks time them as the best plain-PyTorch way to compute the same thing.
"""

from .adacof import adacof
from .adaptive_warp import adaptive_warp
from .backward_warp import backward_warp, grid_sample_warp
from .flow_projection import flow_projection
from .sepconv import sepconv, sepconv_rowwise
from .softsplat import softsplat
from .sparse_masked_conv2d import sparse_masked_conv2d

__all__ = [
    "adacof",
    "adaptive_warp",
    "backward_warp",
    "flow_projection",
    "grid_sample_warp",
    "sepconv",
    "sepconv_rowwise",
    "softsplat",
    "sparse_masked_conv2d",
]
