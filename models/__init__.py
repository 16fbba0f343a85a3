"""Reference interpolation models built on vfi_ops (run from the repository root)."""

from .dain import DAIN

__all__ = ["DAIN"]
