"""Classical-flow interpolation on generated frames with known motion."""

import sys

import pytest
import torch

pytest.importorskip("cv2")

from vfi_ops.models import ClassicalFlow  # noqa: E402
from vfi_ops.models.data import procedural_texture, shift  # noqa: E402
from vfi_ops.models.evaluate import psnr  # noqa: E402

DX, DY = 6.0, -3.5  # pixels from frame 0 to frame 1


def translated(t: float, size=(112, 144)):
    texture = procedural_texture(200, torch.Generator().manual_seed(3))
    H, W = size
    return shift(texture, DX * t, DY * t)[None, :, 30 : 30 + H, 30 : 30 + W]


def test_recovers_a_translation_and_beats_blending_by_far():
    I0, I1 = translated(0.0), translated(1.0)
    model = ClassicalFlow()
    flow = model.flow(I0, I1)
    inner = (..., slice(12, -12), slice(12, -12))  # away from the borders that move out of view
    assert flow.shape == (1, 2, 112, 144) and flow.dtype == torch.float32
    assert abs(flow[:, 0][inner].median().item() - DX) < 0.2 and abs(flow[:, 1][inner].median().item() - DY) < 0.2
    for t in (0.5, 0.3):
        truth = translated(t)
        ours = psnr(model(I0, I1, t)[inner], truth[inner])
        blend = psnr(((1 - t) * I0 + t * I1)[inner], truth[inner])
        assert ours > 40 and ours > blend + 15, (t, ours, blend)  # measured: 54-55 dB against 22-24 dB


def test_softsplat_variant_recovers_a_translation_too():
    # Both frames splatted to t with both flows: the same known motion, far above blending.
    I0, I1 = translated(0.0), translated(1.0)
    model = ClassicalFlow(warp="softsplat")
    inner = (..., slice(12, -12), slice(12, -12))
    for t in (0.5, 0.3):
        truth = translated(t)
        ours = psnr(model(I0, I1, t)[inner], truth[inner])
        blend = psnr(((1 - t) * I0 + t * I1)[inner], truth[inner])
        assert ours > 40 and ours > blend + 15, (t, ours, blend)
    assert model.timings["flows"] == 4  # F_01 and F_10 per call
    # Pixels neither frame reaches (all flows far out) take the blend.
    far = model._splat(
        I0,
        I1,
        torch.tensor(0.25).view(1, 1, 1, 1),
        torch.full((1, 2, 112, 144), 1e4),
        torch.full((1, 2, 112, 144), 1e4),
    )
    torch.testing.assert_close(far, torch.lerp(I0, I1, 0.25))


def test_one_t_per_item_and_one_flow_per_pair():
    I0, I1 = translated(0.0), translated(1.0)
    model = ClassicalFlow()
    ts = torch.tensor([0.25, 0.5, 0.75])
    batch = model(I0.expand(3, -1, -1, -1), I1.expand(3, -1, -1, -1), ts)
    assert model.timings["flows"] == 1  # the expanded pair is estimated once
    for i, t in enumerate(ts.tolist()):
        torch.testing.assert_close(batch[i : i + 1], model(I0, I1, t))
    other = model(torch.cat((I0, I1)), torch.cat((I1, I0)), 0.5)  # two different pairs
    assert other.shape == (2, 3, 112, 144) and model.timings["flows"] == 1 + 3 + 2
    assert model.timings["flow"] > 0 and model.timings["vfi_ops"] > 0


def test_dtypes_and_settings():
    I0, I1 = translated(0.0, (48, 64)), translated(1.0, (48, 64))
    out64 = ClassicalFlow("fast", 1)(I0.double(), I1.double(), 0.5)
    assert out64.dtype == torch.float64 and out64.shape == (1, 3, 48, 64)
    assert "preset='ultrafast', finest_scale=None" in repr(ClassicalFlow("ultrafast", None))
    assert "warp='softsplat', alpha=2" in repr(ClassicalFlow(warp="softsplat", alpha=2))


def test_bad_arguments_name_themselves():
    I0, I1 = translated(0.0, (32, 32)), translated(1.0, (32, 32))
    with pytest.raises(ValueError, match="ClassicalFlow: preset must be one of"):
        ClassicalFlow("slow")
    with pytest.raises(ValueError, match="ClassicalFlow: finest_scale must be at least 0"):
        ClassicalFlow(finest_scale=-1)
    with pytest.raises(TypeError, match="ClassicalFlow: finest_scale must be an integer"):
        ClassicalFlow(finest_scale=0.5)
    with pytest.raises(TypeError, match="ClassicalFlow: expected floating-point frames"):
        ClassicalFlow()((I0 * 255).byte(), (I1 * 255).byte(), 0.5)
    with pytest.raises(ValueError, match="ClassicalFlow: warp must be one of"):
        ClassicalFlow(warp="forward")
    for alpha in (0.0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="ClassicalFlow: alpha must be a positive finite number"):
            ClassicalFlow(warp="softsplat", alpha=alpha)
    with pytest.raises(ValueError, match="ClassicalFlow: t must lie strictly between 0 and 1"):
        ClassicalFlow()(I0, I1, 1.0)


def test_missing_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(ImportError, match=r"needs opencv-python-headless.*pip install 'vfi_ops\[models\]'"):
        ClassicalFlow()
