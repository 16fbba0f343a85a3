"""Classical-flow interpolation: OpenCV's optical flow, then vfi_ops' projection and warping.

No training and no weights: the flows between the two frames come from OpenCV,
by default DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search",
ECCV 2016, ``cv2.DISOpticalFlow``), and the frame at time t is made by
vfi_ops' ops in one of three ways (``warp``):

``"fusion"`` (the default): both flows F_01 and F_10, each projected to t with
weights from the flows' forward-backward consistency, both frames warped, and
blended with occlusion-aware weights instead of (1 - t, t); see
vfi_ops.models.occlusion for the formulas. Where both flows agree everywhere
this is the classical blend of the two projections.

``"projection"`` (the default before; one flow, half the flow time):

    F_t0 = flow_projection(t * F_01, fill_holes=True)
    F_t1 = -F_t0 * (1 - t) / t                     (linear motion)
    I_t  = (1 - t) * backward_warp(I0, F_t0, "border") + t * backward_warp(I1, F_t1, "border")

``"softsplat"`` forward-warps both frames to t instead, as softmax
splatting does (Niklaus & Liu, CVPR 2020), with both flows and, as the
paper's metric, the negative brightness-constancy error of each source pixel:

    Z_0  = -alpha * mean_c |I0 - backward_warp(I1, F_01)|    (Z_1 likewise, with F_10)
    I_t  = ((1-t) m_0 softsplat(I0, t F_01, Z_0) + t m_1 softsplat(I1, (1-t) F_10, Z_1))
           / ((1-t) m_0 + t m_1)

where m_0, m_1 mark the pixels something landed on; pixels neither frame
reaches take the linear blend.

The flow can be estimated on frames scaled down by ``flow_scale`` (0.25 to 1;
OpenCV's area resampling), then upsampled bilinearly (and its vectors scaled)
to the full size, where the warps run: by default 1 up to 1920 x 1088 pixels,
0.5 up to four times that (4K UHD), 0.25 above.

Settings (DIS preset "medium", finest scale 0; the fusion's sigma 1 px and
kappa 1 px; softsplat's alpha 5) were picked on synthetic triplets and the
real tuning frames (``python -m benchmarks.classical``, results in
benchmarks/RESULTS.md and docs/classical.rst), never on the evaluation sets.

Needs ``opencv-python-headless`` (the ``models`` extra); the flows other than
DIS and Farneback need OpenCV's contrib modules (``opencv-contrib-python-headless``,
installed instead of ``opencv-python-headless``: the two cannot be installed together).
"""

import numbers
import time
from typing import Dict, Optional, Union

import torch
from torch import Tensor, nn

import vfi_ops

from .checks import check_frames, check_int, check_t
from .extras import require
from .occlusion import fuse

PRESETS = ("ultrafast", "fast", "medium")
WARPS = ("fusion", "projection", "softsplat")
# cv2 (opencv-python-headless): dis, farneback; cv2.optflow (opencv-contrib-python-headless): the others.
FLOWS = ("dis", "farneback", "deepflow", "dualtvl1")
CONTRIB_FLOWS = ("deepflow", "dualtvl1")
MIN_FLOW_SIDE = 16  # DIS refuses frames under 8 pixels on a side, and under 12 on both
SIGMA, KAPPA = 1.0, 1.0  # the fusion's consistency scales, in pixels (vfi_ops.models.occlusion)


def default_flow_scale(height: int, width: int) -> float:
    """The flow_scale used when none is given: 1 up to 1920 x 1088 pixels, 0.5 up to 4 times that, else 0.25."""
    area = height * width
    return 1.0 if area <= 1920 * 1088 else 0.5 if area <= 4 * 1920 * 1088 else 0.25


def check_frames_only(I0: Tensor, I1: Tensor) -> None:
    """The frames' shape, dtype and device (as every model checks them), a nonzero height and
    width, and values in [0, 1] (NaN refused)."""
    check_frames("ClassicalFlow", I0, I1, 0.5)  # zero height or width included
    if I0.numel() == 0:
        return
    for name, frame in (("I0", I0), ("I1", I1)):
        low, high = torch.aminmax(frame.detach())
        low, high = low.item(), high.item()
        if not (0.0 <= low and high <= 1.0):  # False for NaN
            raise ValueError(
                f"ClassicalFlow: expected {name} with values in [0, 1], but got values in [{low:g}, {high:g}]"
                + (" (for 8-bit values: divide by 255)" if high <= 255 and low >= 0 else "")
            )


class ClassicalFlow(nn.Module):
    """``ClassicalFlow()(I0, I1, t)``: the frame at time t in (0, 1) between I0 and I1,
    from OpenCV's optical flow and vfi_ops' flow projection and warping (see the module docstring).

    Args:
        preset: DIS preset, ``"ultrafast"``, ``"fast"`` or ``"medium"`` (``flow="dis"`` only).
        finest_scale: the finest pyramid level DIS computes (0 = full resolution,
            1 = half, ...; coarser is faster and smoother); None keeps the preset's (1 for
            ``"medium"``, 2 for ``"fast"`` and ``"ultrafast"``).
        warp: ``"fusion"`` (both flows, occlusion-aware blend), ``"projection"``
            (one flow, DAIN-style flow projection, blend by t) or ``"softsplat"``
            (softmax splatting of both frames).
        alpha: ``"softsplat"`` only: the strength of the brightness-constancy
            metric (per unit of [0, 1] intensity error), a positive number.
        flow: the optical flow: ``"dis"`` (default), ``"farneback"`` (both in
            opencv-python-headless), ``"deepflow"`` or ``"dualtvl1"`` (OpenCV's contrib
            modules: ``opencv-contrib-python-headless``). All take 8-bit luma.
        flow_scale: estimate the flow on frames scaled by this factor in [0.25, 1]
            (then upsampled to full size); None picks it by frame size
            (``default_flow_scale``: 1 up to 1920 x 1088, 0.5 up to 4K UHD, 0.25 above).

    Call: ``I0``, ``I1`` ``[B, 3, H, W]`` floating-point frames with values in [0, 1]
    on any device (the flow is computed on the CPU); ``t`` a number or one per batch
    item, strictly inside (0, 1), checked as given (in float64, before any rounding to
    the frames' dtype: t = 0.9999 with float16 frames is accepted, and the frames are
    computed on in float32). Returns ``[B, 3, H, W]`` of the frames' dtype.
    Batch items that are the same pair of frames (e.g. ``I0.expand(n, -1, -1, -1)``
    with n values of t) share one flow estimate. An empty batch (B = 0) gives an empty
    result. Frames of any size from 1 x 1 work: frames (after ``flow_scale``) smaller
    than ``MIN_FLOW_SIDE`` (16) pixels on a side are padded for the flow estimation by
    repeating their edge pixels (DIS refuses frames under 12 x 12), and the flow is
    cropped back; a frame of one colour thus gets a zero flow, that is the linear blend.
    Bad arguments raise ValueError or TypeError naming the argument: frames of another
    shape, dtype or device, of zero height or width, or with values outside [0, 1] (NaN
    included; 8-bit frames must be divided by 255 first); without OpenCV (or its contrib
    modules for those flows), an ImportError names the package.

    ``timings`` accumulates the seconds spent in the flow estimation (``"flow"``)
    and in vfi_ops (``"vfi_ops"``), and the number of flows estimated (``"flows"``).
    """

    def __init__(
        self,
        preset: str = "medium",
        finest_scale: Optional[int] = 0,
        warp: str = "fusion",
        alpha: float = 5.0,
        flow: str = "dis",
        flow_scale: Optional[float] = None,
    ):
        super().__init__()
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ValueError(f"ClassicalFlow: preset must be one of {PRESETS}, but got {preset!r}")
        if finest_scale is not None:
            finest_scale = check_int("ClassicalFlow", "finest_scale", finest_scale, 0)
        if not isinstance(warp, str) or warp not in WARPS:
            raise ValueError(f"ClassicalFlow: warp must be one of {WARPS}, but got {warp!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < float("inf"):
            raise ValueError(f"ClassicalFlow: alpha must be a positive finite number, but got {alpha!r}")
        if not isinstance(flow, str) or flow not in FLOWS:
            raise ValueError(f"ClassicalFlow: flow must be one of {FLOWS}, but got {flow!r}")
        if flow_scale is not None:
            if isinstance(flow_scale, bool) or not isinstance(flow_scale, numbers.Real):
                raise TypeError(
                    f"ClassicalFlow: flow_scale must be a number in [0.25, 1] or None, but got {flow_scale!r}"
                )
            if not 0.25 <= float(flow_scale) <= 1.0:  # False for NaN
                raise ValueError(f"ClassicalFlow: flow_scale must lie in [0.25, 1], but got {flow_scale!r}")
            flow_scale = float(flow_scale)
        self.cv2 = require("cv2", "classical-flow interpolation (ClassicalFlow)")
        if flow in CONTRIB_FLOWS and not hasattr(self.cv2, "optflow"):
            raise ImportError(
                f"ClassicalFlow: flow={flow!r} needs OpenCV's contrib modules (cv2.optflow), which this OpenCV "
                "lacks; install opencv-contrib-python-headless in place of opencv-python-headless "
                "(pip uninstall opencv-python-headless; pip install opencv-contrib-python-headless)"
            )
        self.preset, self.finest_scale, self.warp, self.alpha = preset, finest_scale, warp, float(alpha)
        self.flow_method, self.flow_scale = flow, flow_scale
        self.timings: Dict[str, float] = {"flow": 0.0, "vfi_ops": 0.0, "flows": 0}
        self._estimate = None

    def extra_repr(self) -> str:
        text = f"flow={self.flow_method!r}"
        if self.flow_method == "dis":
            text += f", preset={self.preset!r}, finest_scale={self.finest_scale}"
        text += f", flow_scale={self.flow_scale}, warp={self.warp!r}"
        return text + (f", alpha={self.alpha:g}" if self.warp == "softsplat" else "")

    def check_inputs(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor]) -> Tensor:
        """Validates the frames ([B, 3, H, W], floating point, values in [0, 1]) and t (in float64,
        before any rounding); returns t as a [B, 1, 1, 1] tensor of the dtype the model computes
        in (float32, or float64 for float64 frames) on the frames' device."""
        check_frames_only(I0, I1)
        t = check_t("ClassicalFlow", t, I0)
        return t.to(torch.promote_types(I0.dtype, torch.float32))

    def _estimator(self):
        """A function of two 8-bit grey frames (numpy, at least MIN_FLOW_SIDE a side) -> [h, w, 2] float32 flow."""
        if self._estimate is None:
            cv2 = self.cv2
            if self.flow_method == "dis":
                preset = {
                    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                }[self.preset]
                dis = cv2.DISOpticalFlow_create(preset)
                if self.finest_scale is not None:
                    dis.setFinestScale(self.finest_scale)
                self._estimate = lambda a, b: dis.calc(a, b, None)
            elif self.flow_method == "farneback":
                # OpenCV's sample settings for dense motion: 5 levels halving, 15 px windows, 3 iterations.
                self._estimate = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 3, 5, 1.2, 0)
            else:
                make = {
                    "deepflow": cv2.optflow.createOptFlow_DeepFlow,
                    "dualtvl1": cv2.optflow.createOptFlow_DualTVL1,
                }[self.flow_method]
                algorithm = make()
                self._estimate = lambda a, b: algorithm.calc(a, b, None)
        return self._estimate

    def _gray(self, frame: Tensor, size):
        """[3, H, W] in [0, 1] -> 8-bit luma (a numpy array) of size (h, w), as the flows take it,
        padded by repeating its edges to at least MIN_FLOW_SIDE pixels on each side."""
        cv2 = self.cv2
        rgb = (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
        gray = cv2.cvtColor(rgb.cpu().numpy(), cv2.COLOR_RGB2GRAY)
        if size != gray.shape:
            gray = cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        pad_y, pad_x = max(0, MIN_FLOW_SIDE - gray.shape[0]), max(0, MIN_FLOW_SIDE - gray.shape[1])
        if pad_y or pad_x:
            gray = cv2.copyMakeBorder(gray, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        return gray

    def flow_size(self, height: int, width: int):
        """(h, w): the size the flow is estimated at, for frames of height x width."""
        scale = default_flow_scale(height, width) if self.flow_scale is None else self.flow_scale
        return max(1, round(height * scale)), max(1, round(width * scale))

    def flow(self, I0: Tensor, I1: Tensor) -> Tensor:
        """The optical flow F_01 from I0 to I1: ``[B, 2, H, W]`` float32 on I0's device, in pixels
        (channel 0 x, channel 1 y), so that I0 at p is seen in I1 at p + F_01(p)."""
        check_frames_only(I0, I1)
        return self._flow(I0, I1)

    def _flow(self, I0: Tensor, I1: Tensor) -> Tensor:
        B, _, H, W = I0.shape
        h, w = self.flow_size(H, W)
        started = time.perf_counter()
        estimate, flows, seen = self._estimator(), [], {}
        for i in range(B):
            key = (I0[i].data_ptr(), I1[i].data_ptr())  # expanded batches repeat one pair
            if key not in seen:
                flow = estimate(self._gray(I0[i], (h, w)), self._gray(I1[i], (h, w)))[:h, :w]
                seen[key] = torch.from_numpy(flow).permute(2, 0, 1)
                self.timings["flows"] += 1
            flows.append(seen[key])
        if not flows:
            return torch.zeros(0, 2, H, W, device=I0.device)
        flow = torch.stack(flows)
        if (h, w) != (H, W):
            flow = torch.nn.functional.interpolate(flow, size=(H, W), mode="bilinear", align_corners=False)
            flow *= torch.tensor([W / w, H / h]).view(1, 2, 1, 1)
        self.timings["flow"] += time.perf_counter() - started
        return flow.to(I0.device)

    def forward(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor] = 0.5) -> Tensor:
        t = self.check_inputs(I0, I1, t)
        if I0.shape[0] == 0:
            return I0.new_zeros(I0.shape)
        dtype = t.dtype  # the ops take float32 or float64
        flow_01 = self._flow(I0, I1).to(dtype)
        flow_10 = self._flow(I1, I0).to(dtype) if self.warp != "projection" else None
        if I0.is_cuda:
            torch.cuda.synchronize(I0.device)
        started = time.perf_counter()
        a, b = I0.to(dtype), I1.to(dtype)
        if self.warp == "fusion":
            out = fuse(a, b, t, flow_01, flow_10, SIGMA, KAPPA)
        elif self.warp == "softsplat":
            out = self._splat(a, b, t, flow_01, flow_10)
        else:
            flow_t0 = vfi_ops.flow_projection(t * flow_01, None, True)
            flow_t1 = flow_t0 * ((t - 1) / t)  # = -F_t0 (1 - t) / t
            out = torch.lerp(
                vfi_ops.backward_warp(a, flow_t0, "border"), vfi_ops.backward_warp(b, flow_t1, "border"), t
            )
        if I0.is_cuda:
            torch.cuda.synchronize(I0.device)
        self.timings["vfi_ops"] += time.perf_counter() - started
        return out.to(I0.dtype)

    def _splat(self, a: Tensor, b: Tensor, t: Tensor, flow_01: Tensor, flow_10: Tensor) -> Tensor:
        """Softmax splatting of both frames to t, blended where they landed (see the module docstring)."""
        ones = a.new_ones(a.shape[0], 1, *a.shape[2:])

        def splat(frame, other, flow, time):
            metric = -self.alpha * (frame - vfi_ops.backward_warp(other, flow, "border")).abs().mean(1, keepdim=True)
            # The channel of ones becomes 1 where something landed, 0 elsewhere.
            out = vfi_ops.softsplat(torch.cat((frame, ones), 1), time * flow, metric, "soft")
            return out[:, :-1], out[:, -1:]

        at_t0, landed0 = splat(a, b, flow_01, t)
        at_t1, landed1 = splat(b, a, flow_10, 1 - t)
        w0, w1 = (1 - t) * landed0, t * landed1
        total = w0 + w1
        mixed = (w0 * at_t0 + w1 * at_t1) / total.clamp_min(torch.finfo(a.dtype).tiny)
        return torch.where(total > 0, mixed, torch.lerp(a, b, t))
