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


@pytest.mark.parametrize("warp", ["projection", "softsplat"])
def test_frames_of_every_size_from_one_pixel(warp):
    # DIS itself refuses frames under 12 x 12 (or under 8 on one side): they are padded for the flow.
    model = ClassicalFlow(warp=warp)
    for H, W in ((1, 1), (1, 7), (5, 1), (3, 40), (40, 3), (7, 7), (11, 11), (12, 12), (15, 17), (16, 9)):
        I0, I1 = translated(0.0, (H, W)), translated(1.0, (H, W))
        out = model(I0, I1, 0.25)
        assert out.shape == (1, 3, H, W) and bool(torch.isfinite(out).all()), (H, W)
        assert model.flow(I0, I1).shape == (1, 2, H, W)
    # A one-colour pair has nothing to track: zero flow, so the linear blend.
    grey0, grey1 = torch.full((1, 3, 1, 1), 0.2), torch.full((1, 3, 1, 1), 0.6)
    torch.testing.assert_close(model(grey0, grey1, 0.25), torch.full((1, 3, 1, 1), 0.3))
    # Identical small frames: zero flow (the padding adds no motion), the frame itself.
    I0 = translated(0.0, (9, 13))
    assert model.flow(I0, I0).abs().max() < 1e-3
    torch.testing.assert_close(model(I0, I0, 0.3), I0)


def test_empty_batch_gives_an_empty_result():
    I0 = torch.zeros(0, 3, 20, 24)
    model = ClassicalFlow()
    out = model(I0, I0, 0.5)
    assert out.shape == (0, 3, 20, 24) and out.dtype == torch.float32
    assert model.flow(I0, I0).shape == (0, 2, 20, 24) and model.timings["flows"] == 0
    assert model(I0, I0, torch.zeros(0)).shape == (0, 3, 20, 24)


def test_frames_outside_the_unit_range_are_refused():
    I0, I1 = translated(0.0, (16, 16)), translated(1.0, (16, 16))
    model = ClassicalFlow()
    with pytest.raises(ValueError, match=r"ClassicalFlow: expected I0 with values in \[0, 1\].*divide by 255"):
        model(I0 * 255, I1 * 255, 0.5)
    with pytest.raises(
        ValueError, match=r"ClassicalFlow: expected I1 with values in \[0, 1\], but got values in \[-0\."
    ):
        model(I0, I1 - 0.5, 0.5)
    nan = I1.clone()
    nan[0, 1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"ClassicalFlow: expected I1 with values in \[0, 1\]"):
        model(I0, nan, 0.5)
    with pytest.raises(ValueError, match="ClassicalFlow: expected I0 with values in"):
        model.flow(I0 + 1, I1)
    with pytest.raises(ValueError, match="ClassicalFlow: expected frames at least 1 x 1 pixels"):
        model(torch.zeros(1, 3, 0, 5), torch.zeros(1, 3, 0, 5), 0.5)
    # The bounds themselves are valid.
    assert model(torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16), 0.5).shape == (1, 3, 16, 16)


def test_t_is_checked_before_rounding_to_the_frames_dtype():
    I0, I1 = translated(0.0, (24, 24)).half(), translated(1.0, (24, 24)).half()
    model = ClassicalFlow()
    assert torch.tensor(0.9999, dtype=torch.float16).item() == 1.0  # what rounding first would refuse
    out = model(I0, I1, 0.9999)
    assert out.dtype == torch.float16 and out.shape == (1, 3, 24, 24)
    # Close to I1 (t is used in float32), not I1 itself nor refused.
    assert (out.float() - I1.float()).abs().max() < 0.05
    assert model.check_inputs(I0, I1, 1e-4).dtype == torch.float32
    assert model.check_inputs(I0, I1, 1e-4).item() == pytest.approx(1e-4)
    for bad in (1.0, 0.0, float("nan"), 1.00001):
        with pytest.raises(ValueError, match="ClassicalFlow: t must lie strictly between 0 and 1"):
            model(I0, I1, bad)
    with pytest.raises(TypeError, match="ClassicalFlow: expected t to be a number"):
        model(I0, I1, "0.5")
    with pytest.raises(ValueError, match=r"ClassicalFlow: expected t to be a number or one per batch item \(1\)"):
        model(I0, I1, torch.tensor([0.5, 0.5]))
