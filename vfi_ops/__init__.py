"""vfi_ops: C++/CUDA operators for video frame interpolation, with hand-written gradients.

    >>> import torch, vfi_ops
    >>> frame, frame_0, frame_1 = torch.rand(3, 1, 3, 32, 48).unbind(0)  # [B, C, H, W]
    >>> flow = flow_01 = torch.randn(1, 2, 32, 48)  # [B, 2, H, W], in pixels
    >>> depth_0, metric, t = torch.rand(1, 1, 32, 48) + 1, torch.randn(1, 1, 32, 48), 0.5
    >>> out = vfi_ops.backward_warp(frame, flow)          # functional
    >>> warp = vfi_ops.nn.BackwardWarp("border")         # module
    >>> ref = vfi_ops.reference.backward_warp(frame, flow)  # pure-PyTorch reference
    >>> flow_t0 = vfi_ops.flow_projection(t * flow_01, 1 / depth_0 + 1e-6, fill_holes=True)
    >>> kernel = torch.rand(1, 16, 32, 48)  # [B, 16, H, W]: 4 x 4 per pixel
    >>> warped = vfi_ops.adaptive_warp(frame, flow_t0, kernel)
    >>> frame_t = vfi_ops.softsplat(frame_0, t * flow_01, metric, "soft")  # forward warp
    >>> feat, coarse = torch.randn(2, 1, 8, 32, 48).unbind(0)
    >>> weight, hard = torch.randn(8, 8, 3, 3), torch.rand(1, 1, 32, 48) < 0.2
    >>> refined = vfi_ops.sparse_masked_conv2d(feat, weight, None, hard, padding=1, fill=coarse)
    >>> refined.shape
    torch.Size([1, 8, 32, 48])
    >>> padded = torch.nn.functional.pad(frame, (2, 2, 2, 2), mode="replicate")  # K = 5
    >>> vertical, horizontal = torch.rand(2, 1, 5, 32, 48).unbind(0)  # [B, K, H, W]
    >>> frame_t = vfi_ops.sepconv(padded, vertical, horizontal)  # SepConv
    >>> weights = torch.rand(1, 25, 32, 48)  # [B, F*F, H, W]
    >>> offset_y, offset_x = torch.randn(2, 1, 25, 32, 48).unbind(0)
    >>> frame_t = vfi_ops.adacof(padded, weights, offset_y, offset_x)  # AdaCoF, F = 5
    >>> frame_t.shape
    torch.Size([1, 3, 32, 48])

The operators are also reachable as ``torch.ops.vfi_ops.*``.
``vfi_ops.output_memory_format(input)`` is the layout sparse_masked_conv2d and backward_warp return
for an input (what an ``out=`` buffer must have). Models and tools built on the
operators (classical-flow interpolation, DAIN- and UGSP-style models, the
vfi-train, vfi-interpolate and vfi-evaluate commands) are in ``vfi_ops.models``.
"""

import importlib as _importlib
import os as _os

from . import _ext, _source_checkout, nn, reference  # noqa: F401 (_ext first: it loads the compiled operators)
from ._build_info import VERSION as __version__
from ._ext import build_info
from ._layout import output_memory_format
from ._op_list import OPS as _OPS

# vfi_ops.<name> is the function of vfi_ops/<name>.py, for every op of the list.
for _name in _OPS:
    globals()[_name] = getattr(_importlib.import_module(f".{_name}", __name__), _name)

_source_checkout.install(_os.path.dirname(_os.path.abspath(__file__)))

__all__ = [
    *_OPS,
    "output_memory_format",
    "build_info",
    "nn",
    "reference",
    "__version__",
]
