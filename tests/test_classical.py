"""Classical-flow interpolation on generated frames with known motion."""

import sys

import pytest
import torch

pytest.importorskip("cv2")

from vfi_ops.models import ClassicalFlow  # noqa: E402
from vfi_ops.models.classical import default_flow_scale  # noqa: E402
from vfi_ops.models.data import procedural_texture, shift  # noqa: E402
from vfi_ops.models.evaluate import psnr  # noqa: E402
from vfi_ops.models.occlusion import consistency_error, fuse  # noqa: E402

import vfi_ops  # noqa: E402

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
    assert model.timings["flows"] == 2  # the expanded pair is estimated once (F_01 and F_10)
    for i, t in enumerate(ts.tolist()):
        torch.testing.assert_close(batch[i : i + 1], model(I0, I1, t))
    other = model(torch.cat((I0, I1)), torch.cat((I1, I0)), 0.5)  # two different pairs
    assert other.shape == (2, 3, 112, 144) and model.timings["flows"] == 2 + 6 + 4
    one_flow = ClassicalFlow(warp="projection")
    one_flow(I0.expand(3, -1, -1, -1), I1.expand(3, -1, -1, -1), ts)
    assert one_flow.timings["flows"] == 1
    assert model.timings["flow"] > 0 and model.timings["vfi_ops"] > 0


def test_dtypes_and_settings():
    I0, I1 = translated(0.0, (48, 64)), translated(1.0, (48, 64))
    out64 = ClassicalFlow("fast", 1)(I0.double(), I1.double(), 0.5)
    assert out64.dtype == torch.float64 and out64.shape == (1, 3, 48, 64)
    assert "preset='ultrafast', finest_scale=None" in repr(ClassicalFlow("ultrafast", None))
    assert "flow='farneback', flow_scale=0.5, warp='fusion'" in repr(ClassicalFlow(flow="farneback", flow_scale=0.5))
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
    with pytest.raises(ValueError, match="ClassicalFlow: expected frames of at least 1 x 1 pixels"):
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


def occluding_square(t: float, size=96, side=36, dx=6.0):
    """A static texture behind a textured square moving dx px to the right from t = 0 to t = 1
    (whole pixels at t = 0, 0.5, 1)."""
    g = torch.Generator().manual_seed(5)
    background, layer = procedural_texture(size + 40, g), procedural_texture(size + 40, g)
    background, moved = background[:, 20:-20, 20:-20], shift(layer, dx * t, 0.0)[:, 20:-20, 20:-20]
    top, left = (size - side) // 2, 20 + round(dx * t)
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    mask[:, top : top + side, left : left + side] = True
    return torch.where(mask, moved, background)[None]


def test_fusion_beats_the_one_flow_projection_at_occlusions():
    I0, I1, truth = occluding_square(0.0), occluding_square(1.0), occluding_square(0.5)
    # The bands the square uncovers and covers, and the square's own edges: where occlusion matters.
    band = (..., slice(26, 70), slice(14, 82))
    scores = {w: psnr(ClassicalFlow(warp=w)(I0, I1, 0.5)[band], truth[band]) for w in ("fusion", "projection")}
    blend = psnr((0.5 * (I0 + I1))[band], truth[band])
    # measured: fusion 32.9 dB, projection 31.8 dB, blend 24.6 dB
    assert scores["fusion"] > scores["projection"] + 0.5 and scores["projection"] > blend + 5, (scores, blend)


def test_fusion_formula_by_hand():
    # Flows that agree (F_10 = -F_01, a whole-pixel translation): no occlusion anywhere, so the result is
    # the t-blend of the two projected warps; with zero flows, exactly the linear blend.
    I0, I1 = translated(0.0, (20, 24)), translated(1.0, (20, 24))
    t = torch.full((1, 1, 1, 1), 0.25)
    zero = torch.zeros(1, 2, 20, 24)
    torch.testing.assert_close(fuse(I0, I1, t, zero, zero, 1.0, 1.0), torch.lerp(I0, I1, 0.25))
    f01 = torch.zeros(1, 2, 20, 24)
    f01[:, 0] = 2.0
    expected = torch.lerp(
        vfi_ops.backward_warp(I0, vfi_ops.flow_projection(t * f01, None, True), "border"),
        vfi_ops.backward_warp(I1, vfi_ops.flow_projection((1 - t) * -f01, None, True), "border"),
        0.25,
    )
    inner = (..., slice(None), slice(0, 18))  # F_10 sampled beyond the right edge is still -F_01 ("border")
    assert consistency_error(f01, -f01).abs().max() == 0
    torch.testing.assert_close(fuse(I0, I1, t, f01, -f01, 1.0, 1.0)[inner], expected[inner])
    # Constant frames: the output is v_1 / (v_0 + v_1). Frame 0's pixels inconsistent (e_0 = 3 px,
    # o_0 = 1 - exp(-9)), frame 1's consistent (F_10 = 0 except where F_01 lands... all of it):
    # F_01 = (3, 0) and F_10 = 0 give e_0 = 3 and e_1 = 3 everywhere, both inconsistent: the t-blend.
    zeros, ones = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    f = torch.zeros(1, 2, 8, 8)
    f[:, 0] = 3.0
    torch.testing.assert_close(fuse(zeros, ones, t, f, torch.zeros_like(f), 1.0, 1.0), torch.full((1, 3, 8, 8), 0.25))


def test_flow_scale():
    assert default_flow_scale(1088, 1920) == 1.0 and default_flow_scale(1089, 1920) == 0.5
    assert default_flow_scale(2160, 3840) == 0.5 and default_flow_scale(4320, 7680) == 0.25
    assert ClassicalFlow(flow_scale=0.5).flow_size(5, 7) == (2, 4) and ClassicalFlow().flow_size(5, 7) == (5, 7)
    I0, I1 = translated(0.0), translated(1.0)
    inner = (..., slice(12, -12), slice(12, -12))
    model = ClassicalFlow(flow_scale=0.5)
    flow = model.flow(I0, I1)  # estimated at 56 x 72, its vectors doubled
    assert flow.shape == (1, 2, 112, 144)
    assert abs(flow[:, 0][inner].median().item() - DX) < 0.3 and abs(flow[:, 1][inner].median().item() - DY) < 0.3
    truth = translated(0.5)
    assert psnr(model(I0, I1, 0.5)[inner], truth[inner]) > 35
    assert ClassicalFlow(flow_scale=0.25)(translated(0.0, (9, 9)), translated(1.0, (9, 9)), 0.5).shape == (1, 3, 9, 9)
    for bad in (0.2, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"ClassicalFlow: flow_scale must lie in \[0.25, 1\]"):
            ClassicalFlow(flow_scale=bad)
    with pytest.raises(TypeError, match="ClassicalFlow: flow_scale must be a number"):
        ClassicalFlow(flow_scale="half")


def test_other_flows(monkeypatch):
    I0, I1 = translated(0.0), translated(1.0)
    inner = (..., slice(12, -12), slice(12, -12))
    flow = ClassicalFlow(flow="farneback").flow(I0, I1)
    assert abs(flow[:, 0][inner].median().item() - DX) < 0.3 and abs(flow[:, 1][inner].median().item() - DY) < 0.3
    with pytest.raises(ValueError, match="ClassicalFlow: flow must be one of"):
        ClassicalFlow(flow="raft")
    import cv2

    monkeypatch.delattr(cv2, "optflow", raising=False)
    with pytest.raises(ImportError, match="flow='deepflow' needs OpenCV's contrib modules.*opencv-contrib-python"):
        ClassicalFlow(flow="deepflow")
