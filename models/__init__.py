"""Interpolation models and tools built on vfi_ops, installed as ``vfi_ops.models``.

    >>> import torch
    >>> from vfi_ops.models import ClassicalFlow, DAIN, UGSP
    >>> frame_0, frame_1 = torch.rand(2, 1, 3, 32, 48).unbind(0)  # [B, 3, H, W] in [0, 1]
    >>> middle = ClassicalFlow()(frame_0, frame_1, t=0.5)   # no weights: DIS flow + vfi_ops
    >>> middle = DAIN()(frame_0, frame_1, t=0.5)            # trainable (vfi-train)
    >>> middle.shape
    torch.Size([1, 3, 32, 48])

Commands: ``vfi-train``, ``vfi-interpolate``, ``vfi-evaluate`` (also
``python -m vfi_ops.models.train`` and so on). In the source repository this
package is the top-level ``models/`` folder.
"""

from .classical import ClassicalFlow
from .dain import DAIN
from .ugsp import UGSP

__all__ = ["ClassicalFlow", "DAIN", "UGSP"]
