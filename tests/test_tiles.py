"""Tiled inference equals untiled inference wherever the model's context fits in the overlap."""

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from vfi_ops.models.tiles import edge_weights, interpolate, tile_starts
from vfi_ops.models.timeline import between, ends_on_source, output_count, parse_rate


class BlendThenBlur(torch.nn.Module):
    """A stand-in model with `context` pixels of context: the blend, then a zero-padded box blur."""

    def __init__(self, context: int):
        super().__init__()
        self.context = context

    def check_inputs(self, I0, I1, t):
        return torch.as_tensor(t, dtype=I0.dtype).reshape(-1, 1, 1, 1)

    def forward(self, I0, I1, t):
        t = self.check_inputs(I0, I1, t)
        k = 2 * self.context + 1
        blend = (1 - t) * I0 + t * I1
        return F.conv2d(blend, torch.ones(3, 1, k, k, dtype=I0.dtype) / k**2, padding=self.context, groups=3)


def frames(H=200, W=300):
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, H, W, generator=g, dtype=torch.float64), torch.rand(
        1, 3, H, W, generator=g, dtype=torch.float64
    )


def test_tiles_without_seams():
    I0, I1 = frames()
    model = BlendThenBlur(2)
    whole = model(I0, I1, 0.3)
    tiled = interpolate(model, I0, I1, 0.3, tile=128, overlap=32)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-12)  # was off by up to 3.7/255 at tile edges


@pytest.mark.parametrize("overlap", [8, 16, 32])
def test_exact_up_to_a_quarter_of_the_overlap(overlap):
    I0, I1 = frames(90, 130)
    for context in (overlap // 4, overlap // 4 + 1):
        model = BlendThenBlur(context)
        error = (interpolate(model, I0, I1, 0.5, tile=48, overlap=overlap) - model(I0, I1, 0.5)).abs().max().item()
        # Exact while the context fits; one pixel more and padding shows through at tile edges.
        assert (error < 1e-12) == (context <= overlap // 4), (context, error)


def test_weights_and_starts():
    assert tile_starts(100, 32, 24) == [0, 24, 48, 68] and tile_starts(20, 32, 24) == [0]
    w = edge_weights(10, 20, 100, 8)  # margin 2, ramp over 4 pixels at both (inner) edges
    assert w[:2].tolist() == [0, 0] and w[2:6].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8]) and w[6:14].eq(1).all()
    assert edge_weights(0, 20, 20, 8).eq(1).all()  # the frame's own borders get no ramp
    with pytest.raises(ValueError, match=r"--overlap \(32\) must be smaller than --tile \(32\)"):
        interpolate(BlendThenBlur(1), *frames(40, 40), 0.5, tile=32, overlap=32)
    with pytest.raises(ValueError, match="--overlap must be a number of pixels >= 0"):
        interpolate(BlendThenBlur(1), *frames(40, 40), 0.5, tile=32, overlap=-4)
    with pytest.raises(ValueError, match="--tile must be a positive number of pixels"):
        interpolate(BlendThenBlur(1), *frames(40, 40), 0.5, tile=0)


def test_timeline():
    # --factor 3 on three frames: 7 frames, the sources at 0, 3, 6.
    slots = [s for i in range(2) for s in between(i, 1, 3)]
    assert slots == [(0, 0), (1, Fraction(1, 3)), (2, Fraction(2, 3)), (3, 0), (4, Fraction(1, 3)), (5, Fraction(2, 3))]
    assert ends_on_source(3, 1, 3) and output_count(3, 1, 3) == 7
    # 24 -> 60 fps: every other source frame lands on an output frame; 24 frames span 23/24 s -> 58 frames.
    assert between(0, 24, 60) == [(0, 0), (1, Fraction(2, 5)), (2, Fraction(4, 5))]
    assert between(1, 24, 60) == [(3, Fraction(1, 5)), (4, Fraction(3, 5))]
    assert output_count(24, 24, 60) == 58 and not ends_on_source(24, 24, 60) and ends_on_source(25, 24, 60)
    assert sum(len(between(i, 24, 60)) for i in range(23)) == 58
    # Slowing down: 60 -> 24 keeps some frames, interpolates others, skips the rest.
    assert between(0, 60, 24) == [(0, 0)] and between(1, 60, 24) == [] and between(2, 60, 24) == [(1, Fraction(1, 2))]
    assert parse_rate("60000/1001", "--fps") == Fraction(60000, 1001) and parse_rate("59.94", "--fps") == Fraction(
        60000, 1001
    )
    for bad in ("0", "-24", "fast", "1/0"):
        with pytest.raises(ValueError, match="--fps must be"):
            parse_rate(bad, "--fps")
