"""Classical-flow interpolation: OpenCV's DIS optical flow, then vfi_ops' projection and warping.

No training and no weights: the flow F_01 from frame 0 to frame 1 comes from
DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016,
``cv2.DISOpticalFlow``), and the frame at time t follows the classical
projection pipeline:

    F_t0 = flow_projection(t * F_01, fill_holes=True)
    F_t1 = -F_t0 * (1 - t) / t                     (linear motion)
    I_t  = (1 - t) * backward_warp(I0, F_t0, "border") + t * backward_warp(I1, F_t1, "border")

The defaults (preset "medium", finest scale 0) were picked on synthetic
triplets (``python -m benchmarks.classical``, results in benchmarks/RESULTS.md),
where estimating F_10 as well and projecting it for F_t1 did not help.

``warp="softsplat"`` forward-warps both frames to t instead, as softmax
splatting does (Niklaus & Liu, CVPR 2020), with both flows from DIS and, as the
paper's metric, the negative brightness-constancy error of each source pixel:

    Z_0  = -alpha * mean_c |I0 - backward_warp(I1, F_01)|    (Z_1 likewise, with F_10)
    I_t  = ((1-t) m_0 softsplat(I0, t F_01, Z_0) + t m_1 softsplat(I1, (1-t) F_10, Z_1))
           / ((1-t) m_0 + t m_1)

where m_0, m_1 mark the pixels something landed on; pixels neither frame
reaches take the linear blend. alpha (5) was picked on the same synthetic triplets
(``python -m benchmarks.classical --softsplat``).

Needs ``opencv-python-headless`` (the ``models`` extra).
"""

import numbers
import time
from typing import Dict, Optional, Union

import torch
from torch import Tensor, nn

import vfi_ops

from .checks import check_frames, check_int
from .extras import require

PRESETS = ("ultrafast", "fast", "medium")
WARPS = ("projection", "softsplat")
MIN_FLOW_SIDE = 16  # DIS refuses frames under 8 pixels on a side, and under 12 on both


def check_frames_only(I0: Tensor, I1: Tensor) -> None:
    """The frames' shape, dtype and device (as every model checks them), a nonzero height and
    width, and values in [0, 1] (NaN refused)."""
    check_frames("ClassicalFlow", I0, I1, 0.5)
    if I0.shape[2] == 0 or I0.shape[3] == 0:
        raise ValueError(f"ClassicalFlow: expected frames at least 1 x 1 pixels, but got I0 of shape {tuple(I0.shape)}")
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
    from OpenCV's DIS optical flow and vfi_ops' flow projection and backward warping.

    Args:
        preset: DIS preset, ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        finest_scale: the finest pyramid level DIS computes (0 = full resolution,
            1 = half, ...; coarser is faster and smoother); None keeps the preset's (1 for
            ``"medium"``, 2 for ``"fast"`` and ``"ultrafast"``).
        warp: ``"projection"`` (DAIN-style flow projection, then backward warping)
            or ``"softsplat"`` (softmax splatting of both frames, both flows from DIS).
        alpha: ``"softsplat"`` only: the strength of the brightness-constancy
            metric (per unit of [0, 1] intensity error), a positive number.

    Call: ``I0``, ``I1`` ``[B, 3, H, W]`` floating-point frames with values in [0, 1]
    on any device (the flow is computed on the CPU); ``t`` a number or one per batch
    item, strictly inside (0, 1), checked as given (in float64, before any rounding to
    the frames' dtype: t = 0.9999 with float16 frames is accepted, and the frames are
    computed on in float32). Returns ``[B, 3, H, W]`` of the frames' dtype.
    Batch items that are the same pair of frames (e.g. ``I0.expand(n, -1, -1, -1)``
    with n values of t) share one flow estimate. An empty batch (B = 0) gives an empty
    result. Frames of any size from 1 x 1 work: frames smaller than
    ``MIN_FLOW_SIDE`` (16) pixels on a side are padded for the flow estimation by
    repeating their edge pixels (DIS refuses frames under 12 x 12), and the flow is cropped
    back; a frame of one colour thus gets a zero flow, that is the linear blend.
    Bad arguments raise ValueError or TypeError naming the argument: frames of another
    shape, dtype or device, of zero height or width, or with values outside [0, 1] (NaN
    included; 8-bit frames must be divided by 255 first); without OpenCV, an ImportError
    names the extra.

    ``timings`` accumulates the seconds spent in the flow estimation (``"flow"``)
    and in vfi_ops (``"vfi_ops"``), and the number of flows estimated (``"flows"``).
    """

    def __init__(
        self, preset: str = "medium", finest_scale: Optional[int] = 0, warp: str = "projection", alpha: float = 5.0
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
        self.cv2 = require("cv2", "classical-flow interpolation (ClassicalFlow)")
        self.preset, self.finest_scale, self.warp, self.alpha = preset, finest_scale, warp, float(alpha)
        self.timings: Dict[str, float] = {"flow": 0.0, "vfi_ops": 0.0, "flows": 0}
        self._dis = None

    def extra_repr(self) -> str:
        text = f"preset={self.preset!r}, finest_scale={self.finest_scale}, warp={self.warp!r}"
        return text + (f", alpha={self.alpha:g}" if self.warp == "softsplat" else "")

    def check_inputs(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor]) -> Tensor:
        """Validates the frames ([B, 3, H, W], floating point, values in [0, 1]) and t (in float64,
        before any rounding); returns t as a [B, 1, 1, 1] tensor of the dtype the model computes
        in (float32, or float64 for float64 frames) on the frames' device."""
        check_frames_only(I0, I1)
        if isinstance(t, Tensor):
            if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
                raise TypeError(
                    f"ClassicalFlow: expected t to be a real number or a tensor of them, but got dtype {t.dtype}"
                )
        elif isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise TypeError(
                "ClassicalFlow: expected t to be a number in (0, 1) or a tensor of one per batch item, "
                f"but got {type(t).__name__}"
            )
        t = torch.as_tensor(t, dtype=torch.float64, device=I0.device)
        if t.dim() == 0:
            t = t.expand(I0.shape[0])
        t = t.reshape(-1, 1, 1, 1)
        if t.shape[0] != I0.shape[0]:
            raise ValueError(
                f"ClassicalFlow: expected t to be a number or one per batch item ({I0.shape[0]}), but got {t.shape[0]}"
            )
        if not bool(((t > 0) & (t < 1)).all()):
            raise ValueError(f"ClassicalFlow: t must lie strictly between 0 and 1, but got {t.flatten().tolist()}")
        return t.to(torch.promote_types(I0.dtype, torch.float32))

    def _estimator(self):
        if self._dis is None:
            cv2 = self.cv2
            preset = {
                "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            }[self.preset]
            self._dis = cv2.DISOpticalFlow_create(preset)
            if self.finest_scale is not None:
                self._dis.setFinestScale(self.finest_scale)
        return self._dis

    def _gray(self, frame: Tensor):
        """[3, H, W] in [0, 1] -> 8-bit luma (a numpy array), as DIS takes it, padded by
        repeating its edges to at least MIN_FLOW_SIDE pixels on each side."""
        rgb = (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
        gray = self.cv2.cvtColor(rgb.cpu().numpy(), self.cv2.COLOR_RGB2GRAY)
        pad_y, pad_x = max(0, MIN_FLOW_SIDE - gray.shape[0]), max(0, MIN_FLOW_SIDE - gray.shape[1])
        if pad_y or pad_x:
            gray = self.cv2.copyMakeBorder(gray, 0, pad_y, 0, pad_x, self.cv2.BORDER_REPLICATE)
        return gray

    def flow(self, I0: Tensor, I1: Tensor) -> Tensor:
        """The optical flow F_01 from I0 to I1: ``[B, 2, H, W]`` float32 on I0's device, in pixels
        (channel 0 x, channel 1 y), so that I0 at p is seen in I1 at p + F_01(p)."""
        check_frames_only(I0, I1)
        return self._flow(I0, I1)

    def _flow(self, I0: Tensor, I1: Tensor) -> Tensor:
        B, _, H, W = I0.shape
        started = time.perf_counter()
        dis, flows, seen = self._estimator(), [], {}
        for i in range(B):
            key = (I0[i].data_ptr(), I1[i].data_ptr())  # expanded batches repeat one pair
            if key not in seen:
                flow = dis.calc(self._gray(I0[i]), self._gray(I1[i]), None)[:H, :W]
                seen[key] = torch.from_numpy(flow).permute(2, 0, 1)
                self.timings["flows"] += 1
            flows.append(seen[key])
        self.timings["flow"] += time.perf_counter() - started
        if not flows:
            return torch.zeros(0, 2, H, W, device=I0.device)
        return torch.stack(flows).to(I0.device)

    def forward(self, I0: Tensor, I1: Tensor, t: Union[float, Tensor] = 0.5) -> Tensor:
        t = self.check_inputs(I0, I1, t)
        if I0.shape[0] == 0:
            return I0.new_zeros(I0.shape)
        dtype = t.dtype  # the ops take float32 or float64
        flow_01 = self._flow(I0, I1).to(dtype)
        flow_10 = self._flow(I1, I0).to(dtype) if self.warp == "softsplat" else None
        if I0.is_cuda:
            torch.cuda.synchronize(I0.device)
        started = time.perf_counter()
        a, b = I0.to(dtype), I1.to(dtype)
        if self.warp == "softsplat":
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
