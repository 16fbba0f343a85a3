"""nn.Module wrappers of the vfi_ops operators."""

from typing import Optional

from torch import Tensor, nn

from .adacof import adacof
from .adaptive_warp import adaptive_warp
from .backward_warp import PADDING_MODES, backward_warp
from .corr_lookup import corr_lookup
from .correlation import correlation
from .flow_projection import flow_projection
from .sepconv import sepconv
from .softsplat import MODES as SPLAT_MODES
from .softsplat import softsplat
from .sparse_masked_conv2d import sparse_masked_conv2d


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


class FlowProjection(nn.Module):
    """``FlowProjection(fill_holes)(flow, weight=None)`` is :func:`vfi_ops.flow_projection`.

    ``fill_holes`` must be a bool (anything else raises a TypeError).
    """

    def __init__(self, fill_holes: bool = False):
        super().__init__()
        if not isinstance(fill_holes, bool):  # bool("False") would be True
            raise TypeError(
                f"FlowProjection: expected fill_holes to be a bool, but got {fill_holes!r} "
                f"({type(fill_holes).__name__})"
            )
        self.fill_holes = fill_holes

    def forward(self, flow: Tensor, weight: Optional[Tensor] = None) -> Tensor:
        return flow_projection(flow, weight, self.fill_holes)

    def extra_repr(self) -> str:
        return f"fill_holes={self.fill_holes}"


class SoftSplat(nn.Module):
    """``SoftSplat(mode)(input, flow, metric=None)`` is :func:`vfi_ops.softsplat`."""

    def __init__(self, mode: str = "soft"):
        super().__init__()
        if mode not in SPLAT_MODES:
            raise ValueError(f"SoftSplat: mode must be one of 'sum', 'avg', 'linear', 'soft', but got {mode!r}")
        self.mode = mode

    def forward(self, input: Tensor, flow: Tensor, metric: Optional[Tensor] = None) -> Tensor:
        return softsplat(input, flow, metric, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class AdaptiveWarp(nn.Module):
    """``AdaptiveWarp()(input, flow, kernel)`` is :func:`vfi_ops.adaptive_warp`."""

    def forward(self, input: Tensor, flow: Tensor, kernel: Tensor) -> Tensor:
        return adaptive_warp(input, flow, kernel)


class SepConv(nn.Module):
    """``SepConv()(input, vertical, horizontal)`` is :func:`vfi_ops.sepconv`."""

    def forward(self, input: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
        return sepconv(input, vertical, horizontal)


class AdaCoF(nn.Module):
    """``AdaCoF(dilation, truncate_offsets)(input, weight, offset_y, offset_x)`` is :func:`vfi_ops.adacof`."""

    def __init__(self, dilation: int = 1, truncate_offsets: bool = False):
        super().__init__()
        if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
            raise ValueError(f"AdaCoF: dilation must be a positive int, but got {dilation!r}")
        if not isinstance(truncate_offsets, bool):
            raise TypeError(f"AdaCoF: expected truncate_offsets to be a bool, but got {truncate_offsets!r}")
        self.dilation = dilation
        self.truncate_offsets = truncate_offsets

    def forward(self, input: Tensor, weight: Tensor, offset_y: Tensor, offset_x: Tensor) -> Tensor:
        return adacof(input, weight, offset_y, offset_x, self.dilation, self.truncate_offsets)

    def extra_repr(self) -> str:
        return f"dilation={self.dilation}, truncate_offsets={self.truncate_offsets}"


class Correlation(nn.Module):
    """``Correlation(max_displacement, stride=1, dilation=1)(input1, input2)`` is
    :func:`vfi_ops.correlation` (a plain sum over channels: PWC-Net divides by C)."""

    def __init__(self, max_displacement: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        for name, value, least in (
            ("max_displacement", max_displacement, 0),
            ("stride", stride, 1),
            ("dilation", dilation, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Correlation: expected {name} to be an int, but got {value!r}")
            if value < least:
                raise ValueError(f"Correlation: expected {name} >= {least}, but got {value}")
        self.max_displacement, self.stride, self.dilation = max_displacement, stride, dilation

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return correlation(input1, input2, self.max_displacement, self.stride, self.dilation)

    def extra_repr(self) -> str:
        return f"max_displacement={self.max_displacement}, stride={self.stride}, dilation={self.dilation}"


class CorrLookup(nn.Module):
    """``CorrLookup(radius)(fmap1, fmap2, coords)`` is :func:`vfi_ops.corr_lookup`."""

    def __init__(self, radius: int):
        super().__init__()
        if isinstance(radius, bool) or not isinstance(radius, int):
            raise TypeError(f"CorrLookup: expected radius to be an int, but got {radius!r}")
        if radius < 0:
            raise ValueError(f"CorrLookup: expected radius >= 0, but got {radius}")
        self.radius = radius

    def forward(self, fmap1: Tensor, fmap2: Tensor, coords: Tensor) -> Tensor:
        return corr_lookup(fmap1, fmap2, coords, self.radius)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"


class SparseMaskedConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` computed only where a mask is on (:func:`vfi_ops.sparse_masked_conv2d`).

    Constructed, initialised and saved like ``nn.Conv2d`` (same parameters, same
    state_dict keys, so weights load either way); ``forward(input, mask, fill=None)``
    returns the convolution where ``mask`` ([B, 1, H_out, W_out]) is nonzero and
    ``fill`` (zeros if None) elsewhere. Zero padding only.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        if padding_mode != "zeros":
            raise ValueError(f"SparseMaskedConv2d: only padding_mode='zeros' is supported, but got {padding_mode!r}")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device, dtype
        )

    def forward(self, input: Tensor, mask: Tensor, fill: Optional[Tensor] = None) -> Tensor:
        return sparse_masked_conv2d(
            input, self.weight, self.bias, mask, self.stride, self.padding, self.dilation, self.groups, fill
        )
