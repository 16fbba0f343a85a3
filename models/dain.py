"""A DAIN-style frame interpolation model built on vfi_ops, small enough to train from scratch.

Pipeline (DAIN, Bao et al. 2019, with small trainable stand-ins for PWC-Net and MegaDepth):

1. flows F_01 and F_10 from a coarse-to-fine pyramid estimator (features warped with ``backward_warp``);
2. depths D_0 and D_1 from a small encoder-decoder;
3. depth-aware projection: F_t0 = ``flow_projection(t * F_01, 1 / D_0 + 1e-6, fill_holes=True)``
   (and F_t1 from (1 - t) * F_10), the same function in training and inference;
4. context features (7x7 conv and two residual blocks, all three outputs kept) and 4x4 per-pixel
   kernels for each frame (a U-Net);
5. ``adaptive_warp`` of each frame with its depth and context by F_t0 / F_t1 and its kernels;
6. synthesis: three residual blocks predict a residual over the blend (1 - t) W_0 + t W_1.

``DAIN(ops="reference")`` runs the same model with the pure-PyTorch reference ops
(``vfi_ops.reference``), to measure the speedup and check the agreement.
"""

from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import vfi_ops
import vfi_ops.reference

from .checks import check_frames, check_int

OPS = {"custom": vfi_ops, "reference": vfi_ops.reference}
KERNEL_SIZE = 4  # DAIN's 4x4 adaptive-warping kernels
PAD_MULTIPLE = 16  # the flow pyramid's coarsest level is 1/16


def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, inplace: bool = False) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2), nn.LeakyReLU(0.1, inplace))


def small_conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    """A 3x3 output layer that starts near zero, so the model starts close to its prior
    (no correction, uniform kernels) while every layer still gets a gradient."""
    layer = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
    with torch.no_grad():
        layer.weight.mul_(0.01)
        layer.bias.zero_()
    return layer


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.body(x), 0.1)


class FlowEstimator(nn.Module):
    """Coarse-to-fine flow at 1/16, 1/8 and 1/4 resolution, then upsampled: at each level
    the second frame's features are warped by the current flow and a small decoder
    predicts the correction."""

    def __init__(self, width: int):
        super().__init__()
        chans = [width, width, 2 * width, 2 * width]  # features at 1/2, 1/4, 1/8, 1/16
        layers, prev = [], 3
        for ch in chans:
            layers.append(nn.Sequential(conv(prev, ch, 3, 2), conv(ch, ch)))
            prev = ch
        self.encoder = nn.ModuleList(layers)
        self.decoders = nn.ModuleList(
            nn.Sequential(conv(2 * ch + 2, 2 * width), conv(2 * width, width), small_conv(width, 2)) for ch in chans[1:]
        )

    def forward(self, a: Tensor, b: Tensor, ops) -> Tensor:
        """The flow from a to b, in pixels, at full resolution."""
        feats_a, feats_b, x = [], [], torch.cat((a, b))
        for layer in self.encoder:
            x = layer(x)
            fa, fb = x.chunk(2)
            feats_a.append(fa)
            feats_b.append(fb)
        flow = None
        for level in (3, 2, 1):  # 1/16, 1/8, 1/4
            fa, fb = feats_a[level], feats_b[level]
            if flow is None:
                flow = fa.new_zeros(fa.shape[0], 2, *fa.shape[2:])
            else:
                flow = 2 * F.interpolate(flow, size=fa.shape[2:], mode="bilinear", align_corners=False)
            warped = ops.backward_warp(fb, flow, "border")
            flow = flow + self.decoders[level - 1](torch.cat((fa, warped, flow), 1))
        return 4 * F.interpolate(flow, size=a.shape[2:], mode="bilinear", align_corners=False)


class DepthEstimator(nn.Module):
    """Depth >= 1 from a small encoder-decoder; 1 / depth weighs the projection."""

    def __init__(self, width: int):
        super().__init__()
        self.down1, self.down2 = conv(3, width, 3, 2), conv(width, 2 * width, 3, 2)
        self.up1, self.up2 = conv(2 * width + width, width), conv(width + 3, width)
        self.out = nn.Conv2d(width, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        d1 = self.down1(x)
        d2 = self.down2(d1)
        u1 = self.up1(torch.cat((F.interpolate(d2, size=d1.shape[2:], mode="bilinear", align_corners=False), d1), 1))
        u2 = self.up2(torch.cat((F.interpolate(u1, size=x.shape[2:], mode="bilinear", align_corners=False), x), 1))
        return 1 + F.softplus(self.out(u2))


class ContextExtractor(nn.Module):
    """7x7 conv and two residual blocks; the output of each is kept (hierarchical features)."""

    def __init__(self, width: int):
        super().__init__()
        self.head = conv(3, width, 7)
        self.blocks = nn.ModuleList([ResBlock(width), ResBlock(width)])

    def forward(self, x: Tensor) -> Tensor:
        feats = [self.head(x)]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return torch.cat(feats, 1)


class KernelEstimator(nn.Module):
    """A U-Net from both frames to 4x4 kernels for each; they start uniform (1/4 per tap,
    so each quadrant sums to 1 and adaptive warping starts as smoothed bilinear warping)."""

    def __init__(self, width: int):
        super().__init__()
        taps = KERNEL_SIZE * KERNEL_SIZE
        self.enc = nn.ModuleList([conv(6, width), conv(width, 2 * width, 3, 2), conv(2 * width, 4 * width, 3, 2)])
        self.dec = nn.ModuleList([conv(4 * width + 2 * width, 2 * width), conv(2 * width + width, width)])
        self.out = small_conv(width, 2 * taps)

    def forward(self, a: Tensor, b: Tensor):
        skips, x = [], torch.cat((a, b), 1)
        for layer in self.enc:
            x = layer(x)
            skips.append(x)
        for layer, skip in zip(self.dec, reversed(skips[:-1])):
            x = layer(torch.cat((F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False), skip), 1))
        kernels = 1.0 / 4 + self.out(x)
        return kernels.chunk(2, 1)


class DAIN(nn.Module):
    """``DAIN(width)(I0, I1, t)``: the frame at time t in (0, 1) between I0 and I1.

    Args:
        width: base channel count of every sub-network, an integer >= 2 (the
            default 16 runs a 256x448 pair in well under a second on a 2-core CPU).
        ops: ``"custom"`` (vfi_ops' kernels) or ``"reference"`` (vfi_ops.reference,
            pure PyTorch); the outputs agree to float tolerance.

    Call: ``I0``, ``I1`` ``[B, 3, H, W]`` floating-point frames with values in [0, 1],
    any H and W; ``t`` a number or one per batch item (``[B]``), strictly inside
    (0, 1). Returns ``[B, 3, H, W]``. Bad arguments raise ValueError or TypeError
    naming the model and the argument.
    """

    def __init__(self, width: int = 16, ops: str = "custom"):
        super().__init__()
        self.width = width = check_int("DAIN", "width", width, 2)  # the context features have width // 2 channels
        if ops not in OPS:
            raise ValueError(f"DAIN: ops must be one of {sorted(OPS)}, but got {ops!r}")
        self.ops = ops
        self.flow = FlowEstimator(width)
        self.depth = DepthEstimator(width)
        self.context = ContextExtractor(width // 2)
        self.kernels = KernelEstimator(width)
        warped = 3 + 1 + 3 * (width // 2)  # frame, depth, context
        taps = KERNEL_SIZE * KERNEL_SIZE
        self.synthesis = nn.Sequential(
            conv(2 * warped + 2 * 2 + 2 * taps, width),
            ResBlock(width),
            ResBlock(width),
            ResBlock(width),
            small_conv(width, 3),
        )

    @staticmethod
    def check_inputs(I0: Tensor, I1: Tensor, t: Union[float, Tensor]) -> Tensor:
        """Validates the frames ([B, 3, H, W], floating point) and t; returns t as a [B, 1, 1, 1] tensor."""
        return check_frames("DAIN", I0, I1, t)

    def forward(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor] = 0.5) -> Tensor:
        t = self.check_inputs(I0, I1, t)
        ops = OPS[self.ops]
        H, W = I0.shape[2:]
        pad_h, pad_w = -H % PAD_MULTIPLE, -W % PAD_MULTIPLE
        if pad_h or pad_w:
            I0 = F.pad(I0, (0, pad_w, 0, pad_h), mode="replicate")
            I1 = F.pad(I1, (0, pad_w, 0, pad_h), mode="replicate")

        # Under autocast the ops compute in float32 whatever the networks' dtype (vfi_ops registers that).
        flow_01, flow_10 = self.flow(torch.cat((I0, I1)), torch.cat((I1, I0)), ops).chunk(2)
        depth_0, depth_1 = self.depth(torch.cat((I0, I1))).chunk(2)
        flow_t0 = ops.flow_projection(t * flow_01, 1 / depth_0 + 1e-6, True)
        flow_t1 = ops.flow_projection((1 - t) * flow_10, 1 / depth_1 + 1e-6, True)
        context_0, context_1 = self.context(torch.cat((I0, I1))).chunk(2)
        kernel_0, kernel_1 = self.kernels(I0, I1)

        warped_0 = ops.adaptive_warp(torch.cat((I0, depth_0, context_0), 1), flow_t0, kernel_0)
        warped_1 = ops.adaptive_warp(torch.cat((I1, depth_1, context_1), 1), flow_t1, kernel_1)
        blend = (1 - t) * warped_0[:, :3] + t * warped_1[:, :3]
        residual = self.synthesis(torch.cat((warped_0, warped_1, flow_t0, flow_t1, kernel_0, kernel_1), 1))
        return (blend + residual)[..., :H, :W]
