"""Interpolation models and tools built on vfi_ops, installed as ``vfi_ops.models``.

    >>> from vfi_ops.models import DAIN, UGSP
    >>> middle = DAIN()(frame_0, frame_1, t=0.5)

Commands: ``vfi-train``, ``vfi-interpolate``, ``vfi-evaluate`` (also
``python -m vfi_ops.models.train`` and so on). In the source repository this
package is the top-level ``models/`` folder.
"""

from .dain import DAIN
from .ugsp import UGSP

__all__ = ["DAIN", "UGSP"]
