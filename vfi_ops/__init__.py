"""vfi_ops: C++/CUDA operators for video frame interpolation, with hand-written gradients.

    >>> import vfi_ops
    >>> out = vfi_ops.backward_warp(frame, flow)          # functional
    >>> warp = vfi_ops.nn.BackwardWarp("border")         # module
    >>> vfi_ops.reference.backward_warp(frame, flow)     # pure-PyTorch reference
    >>> flow_t0 = vfi_ops.flow_projection(t * flow_01, 1 / depth_0 + 1e-6, fill_holes=True)
    >>> warped = vfi_ops.adaptive_warp(frame, flow_t0, kernel)  # kernel: [B, 16, H, W]
    >>> frame_t = vfi_ops.softsplat(frame_0, t * flow_01, metric, "soft")  # forward warp
    >>> frame_t = vfi_ops.sepconv(padded_0, v_0, h_0) + vfi_ops.sepconv(padded_1, v_1, h_1)  # SepConv
    >>> frame_t = vfi_ops.adacof(padded, weight, offset_y, offset_x, dilation=1)  # AdaCoF, CDFI
    >>> refined = vfi_ops.sparse_masked_conv2d(feat, weight, bias, hard, padding=1, fill=coarse)

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
from .adacof import adacof
from .adaptive_warp import adaptive_warp
from .backward_warp import backward_warp
from .flow_projection import flow_projection
from .sepconv import sepconv
from .softsplat import softsplat
from .sparse_masked_conv2d import sparse_masked_conv2d

_source_checkout.install(_os.path.dirname(_os.path.abspath(__file__)))

__all__ = [
    "adacof",
    "adaptive_warp",
    "backward_warp",
    "flow_projection",
    "sepconv",
    "softsplat",
    "sparse_masked_conv2d",
    "output_memory_format",
    "build_info",
    "nn",
    "reference",
    "__version__",
]
