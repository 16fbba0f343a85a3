"""An uncertainty-guided spatially pruned (UGSP-style) interpolation model on vfi_ops.

IFRNet-like (Kong et al. 2022) with UGSP's pruning (Cheng, Jiang et al. 2023):
an encoder gives a 4-level pyramid (1/2 .. 1/16) of both frames; decoders from
coarse to fine predict the flows F_t0 and F_t1, the intermediate feature for
the next level and the logit of the mask P_k of the next (finer) level. The
output is ``M * backward_warp(I0, F_t0) + (1 - M) * backward_warp(I1, F_t1) + R``.

Below the coarsest level each decoder only computes where its mask is on; where
it is off, the coarser result stands (upsampled flows, the blend weight 1 - t,
no residual, the coarser mask logit; the feature passed on is zero there).
Every decoder layer is

    h = act(conv(x) * P)            training: dense, times the soft mask, so gradients reach P
    h = act(conv(x) * m)            mode="masked": the same with a hard mask m
    h = act(sparse_masked_conv2d(x, m))   mode="sparse": only the active positions are computed

and "masked" and "sparse" agree to float tolerance. mode="dense" computes
every position with the same weights (m = 1), so the saving can be measured.

As in IFRNet, the decoders carry most of the work (five 3x3 layers each; with
the default width 24, IFRNet's pyramid of 24, 48, 72 and 96 channels, they
have 288, 192 and 120 hidden channels at 1/8, 1/4 and 1/2 and do 95% of the
dense mode's multiply-accumulates), since that is what pruning saves. They
run channels-last in every mode: the faster layout for the dense convolutions
on CPU, and the one where sparse_masked_conv2d gathers each patch as runs of
channels.
"""

from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import vfi_ops
from vfi_ops import output_memory_format

from .checks import check_fraction, check_frames, check_int
from .dain import conv

MODES = ("sparse", "masked", "dense")
PAD_MULTIPLE = 16
_UNSET = object()


def up2(x: Tensor, size) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def cat_channels_last(parts: List[Tensor]) -> Tensor:
    """torch.cat(parts, 1), laid out channels-last: written there directly, at
    half the cost of converting the concatenation."""
    return torch.cat([p.permute(0, 2, 3, 1) for p in parts], 3).permute(0, 3, 1, 2)


class LayerBuffers:
    """Two flat buffers that the pruned decoders' hidden layers write into in
    turn at sparse inference (sparse_masked_conv2d's out=). A fresh full-size
    tensor per layer costs page faults and zeroing, about a sixth of a layer's
    time at 1080p on CPU; with these a forward touches two tensors' worth of
    new memory instead of twelve."""

    def __init__(self, numel: int, like: Tensor):
        self.flat = [like.new_empty(numel) for _ in range(2)]
        self.turn = 0

    def next_like(self, x: Tensor, channels: int) -> Tensor:
        """The next buffer as the output the op gives for input x: [B, channels, H, W]
        in the layout the op computes x in."""
        B, _, H, W = x.shape
        flat = self.flat[self.turn][: B * channels * H * W]
        self.turn = 1 - self.turn
        if output_memory_format(x) == torch.channels_last:
            return flat.view(B, H, W, channels).permute(0, 3, 1, 2)
        return flat.view(B, channels, H, W)


class Encoder(nn.Module):
    """Features at 1/2, 1/4, 1/8, 1/16 with w, 2w, 3w, 4w channels."""

    def __init__(self, width: int):
        super().__init__()
        chans = [width, 2 * width, 3 * width, 4 * width]
        layers, prev = [], 3
        for ch in chans:
            layers.append(nn.Sequential(conv(prev, ch, stride=2, inplace=True), conv(ch, ch, inplace=True)))
            prev = ch
        self.levels = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> List[Tensor]:
        """Channels-last features: on CPU, these few-channel convolutions run
        about twice as fast in that layout."""
        x = x.contiguous(memory_format=torch.channels_last)
        feats = []
        for level in self.levels:
            x = level(x)
            feats.append(x)
        return feats


class PrunedDecoder(nn.Module):
    """3x3 layers in -> hidden, (depth x) hidden -> hidden, hidden -> out, each
    computed where the mask is on."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, depth: int = 3):
        super().__init__()
        chans = [in_ch] + [hidden] * (depth + 1) + [out_ch]
        self.layers = nn.ModuleList([nn.Conv2d(a, b, 3, 1, 1) for a, b in zip(chans[:-1], chans[1:])])
        with torch.no_grad():  # start close to "the coarser result stands"
            self.layers[-1].weight.mul_(0.1)
            self.layers[-1].bias.zero_()

    def forward(self, x: Tensor, mask: Optional[Tensor], mode: str, buffers: Optional[LayerBuffers] = None) -> Tensor:
        """mask: [B, 1, H, W], soft in training, 0/1 otherwise; None computes everything.
        Fastest with a channels-last x (see the module docstring). With buffers
        (mode="sparse", no autograd) the hidden layers write into them."""
        for i, layer in enumerate(self.layers):
            if mask is None:
                x = layer(x)
            elif mode == "sparse":
                hidden = i < len(self.layers) - 1
                out = buffers.next_like(x, layer.out_channels) if hidden and buffers is not None else None
                x = vfi_ops.sparse_masked_conv2d(x, layer.weight, layer.bias, mask, padding=1, out=out)
            else:
                x = layer(x) * mask
            if i < len(self.layers) - 1:
                x = F.leaky_relu_(x, 0.1)
        return x


def hard_mask(prob: Tensor, keep: Optional[float], threshold: float) -> Tensor:
    """The positions to compute: the top `keep` fraction of each image, or prob > threshold."""
    if keep is None:
        return (prob > threshold).to(prob.dtype)
    flat = prob.flatten(1)
    k = int(round(keep * flat.shape[1]))
    if k <= 0:
        return torch.zeros_like(prob)
    kth = flat.topk(k, dim=1).values[:, -1:]
    return (flat >= kth).to(prob.dtype).view_as(prob)


class UGSP(nn.Module):
    """``UGSP(width)(I0, I1, t)``: the frame at time t in (0, 1) between I0 and I1.

    In training mode the masks are soft and every position is computed (times
    the mask), except with mode="dense" (the unpruned branch). In eval mode
    ``mode`` picks "sparse" (default: sparse_masked_conv2d
    where the hard mask is on), "masked" (dense convolutions times the hard
    mask) or "dense" (no pruning); the hard mask keeps the top ``keep`` fraction
    of each level's positions (the sparsity S_t), or, with keep=None, those whose
    probability exceeds ``threshold``.

    Args: ``width`` an integer >= 1. Call: ``I0``, ``I1`` ``[B, 3, H, W]``
    floating-point frames in [0, 1]; ``t`` a number or one per batch item, in
    (0, 1); ``mode`` one of ``MODES``; ``keep`` None or in [0, 1]; ``threshold``
    in [0, 1]. Returns ``[B, 3, H, W]`` (and a dict of intermediate results with
    ``return_aux=True``). Bad arguments raise ValueError or TypeError naming the
    model and the argument.
    """

    def __init__(self, width: int = 24):
        super().__init__()
        self.width = width = check_int("UGSP", "width", width, 1)
        self.set_inference()
        self.encoder = Encoder(width)
        c = [width, 2 * width, 3 * width, 4 * width]
        # Coarsest decoder (dense): features of both frames and t -> flows, feature for 1/8, mask logit for 1/8.
        self.coarsest = nn.Sequential(
            conv(2 * c[3] + 1, 2 * c[3]), conv(2 * c[3], c[3]), nn.Conv2d(c[3], 4 + c[2] + 1, 3, 1, 1)
        )
        # Pruned decoders at 1/8, 1/4, 1/2: (feature, both warped features, flows) -> (flow residuals, next feature, next mask logit)
        self.decoders = nn.ModuleList(
            [
                PrunedDecoder(3 * c[2] + 4, 4 * c[2], 4 + c[1] + 1),
                PrunedDecoder(3 * c[1] + 4, 4 * c[1], 4 + c[0] + 1),
                PrunedDecoder(3 * c[0] + 4, 5 * c[0], 4 + 1 + 3),  # finest: flow residuals, blend logit M, residual R
            ]
        )

    def set_inference(self, mode: str = "sparse", keep: Optional[float] = None, threshold: float = 0.5) -> None:
        """The defaults of forward's mode, keep and threshold (e.g. for the command-line tools)."""
        self.inference = self._check_options(mode, keep, threshold)

    @staticmethod
    def _check_options(mode, keep, threshold) -> dict:
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"UGSP: mode must be one of {MODES}, but got {mode!r}")
        if keep is not None:
            keep = check_fraction("UGSP", "keep", keep)
        return {"mode": mode, "keep": keep, "threshold": check_fraction("UGSP", "threshold", threshold)}

    @staticmethod
    def check_inputs(I0: Tensor, I1: Tensor, t: Union[float, Tensor]) -> Tensor:
        """Validates the frames ([B, 3, H, W], floating point) and t; returns t as a [B, 1, 1, 1] tensor."""
        return check_frames("UGSP", I0, I1, t)

    def forward(
        self,
        I0: Tensor,
        I1: Tensor,
        t: Union[float, Tensor] = 0.5,
        mode: Optional[str] = None,
        keep=_UNSET,
        threshold: Optional[float] = None,
        return_aux: bool = False,
    ):
        options = self._check_options(
            self.inference["mode"] if mode is None else mode,
            self.inference["keep"] if keep is _UNSET else keep,
            self.inference["threshold"] if threshold is None else threshold,
        )
        mode, keep, threshold = options["mode"], options["keep"], options["threshold"]
        if not isinstance(return_aux, bool):
            raise TypeError(f"UGSP: return_aux must be True or False, but got {return_aux!r}")
        t = self.check_inputs(I0, I1, t)
        H, W = I0.shape[2:]
        pad = (0, -W % PAD_MULTIPLE, 0, -H % PAD_MULTIPLE)
        I0p, I1p = F.pad(I0, pad, mode="replicate"), F.pad(I1, pad, mode="replicate")
        f0, f1 = zip(*(f.chunk(2) for f in self.encoder(torch.cat((I0p, I1p)))))

        x = self.coarsest(torch.cat((f0[3], f1[3], t.expand(-1, 1, *f0[3].shape[2:])), 1))
        flows, feature, logit = x[:, :4], x[:, 4:-1], x[:, -1:]
        blend_logit = torch.log((1 - t) / t)  # M = 1 - t where the finest decoder is off
        # Soft masks only multiply (the sparse op would treat them as all on).
        layer_mode = "masked" if self.training and mode == "sparse" else mode
        buffers = None
        if layer_mode == "sparse" and not torch.is_grad_enabled():
            hidden = [
                d.layers[0].out_channels * f.shape[0] * f.shape[2] * f.shape[3]
                for d, f in zip(self.decoders, f0[2::-1])
            ]
            buffers = LayerBuffers(max(hidden), I0p)
        probs, masks, features = [], [], []
        for level, decoder in zip((2, 1, 0), self.decoders):
            size = f0[level].shape[2:]
            flows = 2 * up2(flows, size)
            feature, logit = up2(feature, size), up2(logit, size)
            prob = torch.sigmoid(logit)
            probs.append(prob)
            if mode == "dense":
                mask = None
            elif self.training:
                mask = prob
            else:
                mask = hard_mask(prob, keep, threshold)
            masks.append(mask)
            warped0 = vfi_ops.backward_warp(f0[level], flows[:, :2], "border")
            warped1 = vfi_ops.backward_warp(f1[level], flows[:, 2:], "border")
            out = decoder(cat_channels_last([feature, warped0, warped1, flows]), mask, layer_mode, buffers)
            features.append(out)
            flows = flows + out[:, :4]
            if level > 0:
                feature, logit = out[:, 4:-1], logit + out[:, -1:]
            else:
                blend_logit, residual = blend_logit + out[:, 4:5], out[:, 5:8]

        size = I0p.shape[2:]
        flows = 2 * up2(flows, size)
        M = torch.sigmoid(up2(blend_logit, size))
        warped = M * vfi_ops.backward_warp(I0p, flows[:, :2], "border") + (1 - M) * vfi_ops.backward_warp(
            I1p, flows[:, 2:], "border"
        )
        output = (warped + up2(residual, size))[..., :H, :W]
        if not return_aux:
            return output
        return output, {"probs": probs, "masks": masks, "features": features, "flows": flows[..., :H, :W]}


def active_fraction(masks: List[Optional[Tensor]]) -> float:
    """The fraction of pruned-decoder positions computed, weighted by their count."""
    total = sum(m.numel() if m is not None else 0 for m in masks)
    return sum(float(m.sum()) for m in masks if m is not None) / max(1, total)


class UncertaintyNet(nn.Module):
    """UGSP's uncertainty estimation network (UEN): a small U-Net from both frames
    and t to a frame estimate f(I0, I1) (a residual over the blend) and a per-pixel
    log-uncertainty U, trained with ``losses.uncertainty_loss``. Its uncertainty
    guides the interpolation network's masks."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.width = width = check_int("UncertaintyNet", "width", width, 1)
        self.down = nn.ModuleList(
            [conv(7, width), conv(width, 2 * width, stride=2), conv(2 * width, 4 * width, stride=2)]
        )
        self.up = nn.ModuleList([conv(4 * width + 2 * width, 2 * width), conv(2 * width + width, width)])
        self.out = nn.Conv2d(width, 4, 3, 1, 1)

    def forward(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor] = 0.5):
        t = check_frames("UncertaintyNet", I0, I1, t)
        skips, x = [], torch.cat((I0, I1, t.expand(-1, 1, *I0.shape[2:])), 1)
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        for layer, skip in zip(self.up, reversed(skips[:-1])):
            x = layer(torch.cat((up2(x, skip.shape[2:]), skip), 1))
        out = self.out(x)
        estimate = (1 - t) * I0 + t * I1 + out[:, :3]
        return estimate, out[:, 3:4]


def count_macs(model: UGSP, I0: Tensor, I1: Tensor, t=0.5, **kwargs) -> int:
    """Multiply-accumulates of the convolutions of one forward: dense layers as
    run, pruned decoder layers at their active positions only in mode="sparse"."""
    total = [0]

    def hook(module, inputs, output):
        kh, kw = module.kernel_size
        total[0] += (
            output.numel() // output.shape[1] * module.out_channels * module.in_channels // module.groups * kh * kw
        )

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            _, aux = model(I0, I1, t, return_aux=True, **kwargs)
    finally:
        for h in handles:
            h.remove()
    if kwargs.get("mode", model.inference["mode"]) == "sparse" and not model.training:
        for decoder, mask in zip(model.decoders, aux["masks"]):
            per_position = sum(
                l.out_channels * l.in_channels * l.kernel_size[0] * l.kernel_size[1] for l in decoder.layers
            )
            total[0] += int(mask.sum().item()) * per_position
    return total[0]
