"""nn.Module wrappers of the vfi_ops operators."""

from torch import Tensor, nn

from .backward_warp import PADDING_MODES, backward_warp


class BackwardWarp(nn.Module):
    """``BackwardWarp(padding_mode)(input, flow)`` is :func:`vfi_ops.backward_warp`."""

    def __init__(self, padding_mode: str = "zeros"):
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"BackwardWarp: padding_mode must be 'zeros' or 'border', but got {padding_mode!r}")
        self.padding_mode = padding_mode

    def forward(self, input: Tensor, flow: Tensor) -> Tensor:
        return backward_warp(input, flow, self.padding_mode)

    def extra_repr(self) -> str:
        return f"padding_mode={self.padding_mode!r}"
