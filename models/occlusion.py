"""Occlusion-aware fusion of two warped frames, from the forward-backward consistency of two flows.

A pixel p of frame 0 whose flow is confirmed by the flow back,
``F_01(p) + F_10(p + F_01(p)) = 0``, is seen in both frames; where that sum is
large, p is occluded in frame 1 (or its flow is wrong). With the error
``e_0 = |F_01 + backward_warp(F_10, F_01)|`` in pixels (``e_1`` likewise):

    F_t0 = flow_projection(t F_01, w_0, fill_holes=True)        w_0 = exp(-(e_0 / sigma)^2)
    F_t1 = flow_projection((1 - t) F_10, w_1, fill_holes=True)  w_1 = exp(-(e_1 / sigma)^2)

so where several pixels land on one, the consistent ones (the occluder, rather
than the background it covers) decide. The occlusion maps
``o_i = 1 - exp(-(e_i / kappa)^2)``, carried to time t along the flows
(``o_0t = backward_warp(o_0, F_t0)``, ``o_1t`` likewise), give the fusion weights

    v_0 = (1 - t) (1 - o_1t (1 - o_0t)),   v_1 = t (1 - o_0t (1 - o_1t))
    I_t = (v_0 backward_warp(I0, F_t0) + v_1 backward_warp(I1, F_t1)) / (v_0 + v_1)

A warped frame loses its weight only where the other frame's source pixel is
consistent and its own is not: where both are inconsistent (as often in
textureless areas, where the flows are unreliable rather than occluded) the two
guesses are averaged by t, which on real frames beat trusting either one. This
follows the visibility-weighted blend of Super SloMo (Jiang et al., CVPR 2018),
with the visibility maps derived from the flows' consistency instead of learned.
"""

import torch
from torch import Tensor

import vfi_ops


def consistency_error(flow_ab: Tensor, flow_ba: Tensor) -> Tensor:
    """``|F_ab + backward_warp(F_ba, F_ab, "border")|``: ``[B, 1, H, W]`` pixels, 0 where the flows agree."""
    return squared_consistency_error(flow_ab, flow_ba).sqrt()


def squared_consistency_error(flow_ab: Tensor, flow_ba: Tensor) -> Tensor:
    """The square of ``consistency_error`` (no square root: the weights need only the square)."""
    d = flow_ab + vfi_ops.backward_warp(flow_ba, flow_ab, "border")
    dx, dy = d.unbind(1)
    return torch.addcmul(dx * dx, dy, dy).unsqueeze(1)


def fuse(I0: Tensor, I1: Tensor, t: Tensor, flow_01: Tensor, flow_10: Tensor, sigma: float, kappa: float) -> Tensor:
    """The frame at t from both flows, as the module docstring describes.

    ``I0``, ``I1`` ``[B, C, H, W]``, ``flow_01``, ``flow_10`` ``[B, 2, H, W]`` in pixels,
    ``t`` ``[B, 1, 1, 1]`` in (0, 1), all of one float dtype (float32 or float64);
    ``sigma``, ``kappa`` positive, in pixels. Returns ``[B, C, H, W]``."""
    e0, e1 = squared_consistency_error(flow_01, flow_10), squared_consistency_error(flow_10, flow_01)
    tiny = torch.finfo(e0.dtype).tiny
    # The projection's weights must be positive: far from consistent still counts a little.
    c0, c1 = torch.exp(e0 * (-1 / sigma**2)), torch.exp(e1 * (-1 / sigma**2))
    flow_t0 = vfi_ops.flow_projection(t * flow_01, c0 + 1e-6, True)
    flow_t1 = vfi_ops.flow_projection((1 - t) * flow_10, c1 + 1e-6, True)
    # The occlusion maps (1 - c when kappa = sigma), one warp each with its frame.
    if kappa == sigma:
        o0, o1 = 1 - c0, 1 - c1
    else:
        o0, o1 = -torch.expm1(e0 * (-1 / kappa**2)), -torch.expm1(e1 * (-1 / kappa**2))
    warped0 = vfi_ops.backward_warp(torch.cat((I0, o0), 1), flow_t0, "border")
    warped1 = vfi_ops.backward_warp(torch.cat((I1, o1), 1), flow_t1, "border")
    o0t, o1t = warped0[:, -1:], warped1[:, -1:]
    v0 = (1 - t) * (1 - o1t * (1 - o0t))
    v1 = t * (1 - o0t * (1 - o1t))
    return torch.lerp(warped0[:, :-1], warped1[:, :-1], v1 / (v0 + v1).clamp_min(tiny))
