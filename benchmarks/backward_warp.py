"""backward_warp against the plain-PyTorch way (build a grid and call
grid_sample), and its forward against OpenCV's cv2.remap, the tool CPU users
already have."""

import torch

import vfi_ops
from vfi_ops.reference import grid_sample_warp

from .common import Case, op_modes, smooth_flow

BASELINE = "grid_sample"
DESCRIPTION = """\
smooth random flow of ~8 px; NHWC: channels-last input; ": cv2.remap" rows: the
forward against OpenCV's remap (NHWC, float maps). x floor aimed for (fwd):
<= 4x on the CPU, <= 1.7x on CUDA"""

# (name, B, C, H, W, layout, CPU targets for fwd and fwd+bwd); the flow and input
# share the size. Channels-last rows give the op and grid_sample the same
# channels-last input (and incoming gradient).
CASES = [
    ("1080p RGB", 1, 3, 1080, 1920, torch.contiguous_format, (2.5, 2.5)),
    ("1080p RGB NHWC", 1, 3, 1080, 1920, torch.channels_last, (2.5, 2.5)),
    ("1/4-res 64ch (270x480)", 1, 64, 270, 480, torch.contiguous_format, (1.5, 1.5)),
    ("1/4-res 64ch NHWC", 1, 64, 270, 480, torch.channels_last, (1.5, 1.5)),
]
QUICK_CASES = [
    ("quick 64x96", 1, 3, 64, 96, torch.contiguous_format, (None, None)),
    ("quick 64x96 NHWC", 1, 3, 64, 96, torch.channels_last, (None, None)),
]
# The forward against cv2.remap at 1080p RGB (CPU only): at least as fast.
REMAP_CASES = [
    ("1080p RGB", 1, 3, 1080, 1920, torch.contiguous_format, 1.0),
    ("1080p NHWC", 1, 3, 1080, 1920, torch.channels_last, 1.0),
]
QUICK_REMAP_CASES = [("quick 64x96", 1, 3, 64, 96, torch.contiguous_format, None)]
# The CPU forward within 4x of its memory floor.
CPU_FLOOR_TARGETS = {"forward": 4.0}
# On CUDA: forward at least as fast and at >= 60% of copy bandwidth (within
# 1/0.6 of the floor), fwd+bwd 1.5x.
CUDA_TARGETS = (1.0, 1.5)
CUDA_FLOOR_TARGETS = {"forward": 1 / 0.6}

_SKIPPED = []  # notes on rows left out, printed under the section


def bytes_moved(B, C, H, W):
    """mode -> the least bytes moved in float32: the forward reads the input and
    the flow and writes the output; the backward reads the incoming gradient,
    the input and the flow and writes both gradients."""
    image, flow = 4 * B * C * H * W, 4 * B * 2 * H * W
    forward = 2 * image + flow
    return {"forward": forward, "forward+backward": forward + 3 * image + 2 * flow}.__getitem__


def remap_case(name, B, C, H, W, layout, target, device):
    """Ours (input in `layout`, flow [B, 2, H, W]) against cv2.remap on the same
    frame as an NHWC float32 array with float32 maps of absolute positions
    (bilinear, constant border 0: the "zeros" padding), OpenCV on torch's thread count."""
    import cv2
    import numpy as np

    def make():
        cv2.setNumThreads(torch.get_num_threads())
        input = torch.rand(B, C, H, W).contiguous(memory_format=layout)
        flow = smooth_flow(B, H, W, 8.0, "cpu", torch.float32)
        frame = np.ascontiguousarray(input[0].permute(1, 2, 0).numpy())
        map_x = np.ascontiguousarray((torch.arange(W, dtype=torch.float32) + flow[0, 0]).numpy())
        map_y = np.ascontiguousarray((torch.arange(H, dtype=torch.float32).view(H, 1) + flow[0, 1]).numpy())

        def ours():
            with torch.no_grad():
                return vfi_ops.backward_warp(input, flow)

        def remap():
            return cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

        # The same values up to float rounding: the JSON has the largest difference.
        diffs["max |ours - cv2.remap|"] = float(np.abs(ours()[0].permute(1, 2, 0).numpy() - remap()).max())
        return {"forward": (ours, remap)}

    diffs = {}
    return Case(
        "backward_warp",
        f"{name}: cv2.remap",
        "cv2.remap",
        {"forward": target},
        make,
        device,
        notes=lambda mode, ms: dict(diffs),
        bytes_moved=bytes_moved(B, C, H, W),
        floor_targets=CPU_FLOOR_TARGETS if target is not None else {},
    )


def cases(device: str, quick: bool, full: bool, min_run_time: float):
    result = []
    for name, B, C, H, W, layout, cpu_targets in QUICK_CASES if quick else CASES:
        targets = CUDA_TARGETS if device == "cuda" and not quick else cpu_targets
        floor_targets = {} if quick else CUDA_FLOOR_TARGETS if device == "cuda" else CPU_FLOOR_TARGETS

        def make(B=B, C=C, H=H, W=W, layout=layout):
            input = torch.randn(B, C, H, W, device=device).contiguous(memory_format=layout)
            flow = smooth_flow(B, H, W, 8.0, device, torch.float32)
            grad = torch.randn(B, C, H, W, device=device).contiguous(memory_format=layout)
            return op_modes(vfi_ops.backward_warp, grid_sample_warp, (input, flow), grad)

        result.append(
            Case(
                "backward_warp",
                name,
                BASELINE,
                dict(zip(("forward", "forward+backward"), targets)),
                make,
                device,
                bytes_moved=bytes_moved(B, C, H, W),
                floor_targets=floor_targets,
            )
        )
    if device == "cpu":
        try:
            import cv2  # noqa: F401
        except ImportError:
            _SKIPPED.append("cv2.remap rows skipped: OpenCV is not installed (pip install opencv-python-headless)")
        else:
            for args in QUICK_REMAP_CASES if quick else REMAP_CASES:
                result.append(remap_case(*args, device))
    return result


def summary(results):
    return list(_SKIPPED) if any(r.device == "cpu" for r in results) else []
