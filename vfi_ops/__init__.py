"""vfi_ops: C++/CUDA operators for video frame interpolation, with hand-written gradients.

    >>> import vfi_ops
    >>> out = vfi_ops.backward_warp(frame, flow)          # functional
    >>> warp = vfi_ops.nn.BackwardWarp("border")         # module
    >>> vfi_ops.reference.backward_warp(frame, flow)     # pure-PyTorch reference
    >>> flow_t0 = vfi_ops.flow_projection(t * flow_01, 1 / depth_0 + 1e-6, fill_holes=True)
    >>> warped = vfi_ops.adaptive_warp(frame, flow_t0, kernel)  # kernel: [B, 16, H, W]
    >>> frame_t = vfi_ops.softsplat(frame_0, t * flow_01, metric, "soft")  # forward warp
    >>> refined = vfi_ops.sparse_masked_conv2d(feat, weight, bias, hard, padding=1, fill=coarse)
    >>> cost = vfi_ops.correlation(feat_0, feat_1, 4)  # [B, 81, H, W] local cost volume
    >>> samples = vfi_ops.corr_lookup(feat_0, feat_1, coords, 4)  # RAFT's lookup, no (HW)^2 volume

The operators are also reachable as ``torch.ops.vfi_ops.*``.
``vfi_ops.output_memory_format(input)`` is the layout sparse_masked_conv2d and backward_warp return
for an input (what an ``out=`` buffer must have). Models and tools built on the
operators (classical-flow interpolation, DAIN- and UGSP-style models, the
vfi-train, vfi-interpolate and vfi-evaluate commands) are in ``vfi_ops.models``.
"""

import os as _os

from . import _ext, _source_checkout, nn, reference  # noqa: F401 (_ext first: it loads the compiled operators)
from ._build_info import VERSION as __version__
from ._ext import build_info
from ._layout import output_memory_format
from .adaptive_warp import adaptive_warp
from .backward_warp import backward_warp
from .corr_lookup import corr_lookup
from .correlation import correlation
from .flow_projection import flow_projection
from .softsplat import softsplat
from .sparse_masked_conv2d import sparse_masked_conv2d

_source_checkout.install(_os.path.dirname(_os.path.abspath(__file__)))

__all__ = [
    "adaptive_warp",
    "backward_warp",
    "corr_lookup",
    "correlation",
    "flow_projection",
    "softsplat",
    "sparse_masked_conv2d",
    "output_memory_format",
    "build_info",
    "nn",
    "reference",
    "__version__",
]
