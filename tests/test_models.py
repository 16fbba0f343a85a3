import pytest
import torch
from vfi_ops.models import DAIN

from helpers import assert_all_close, frame_pair


def test_forward_backward_odd_size_every_parameter_learns():
    torch.manual_seed(0)
    model = DAIN(width=8)
    I0, I1 = frame_pair(2, 35, 45)
    out = model(I0, I1, torch.tensor([0.3, 0.7]))
    assert out.shape == (2, 3, 35, 45) and torch.isfinite(out).all()
    (out - 0.5 * (I0 + I1)).abs().mean().backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without a gradient: {silent}"


def test_t_changes_the_result():
    torch.manual_seed(0)
    model = DAIN(width=8).eval()
    I0, I1 = frame_pair(1, 32, 48)
    with torch.no_grad():
        outs = [model(I0, I1, t) for t in (0.1, 0.5, 0.9)]
        per_item = model(torch.cat((I0, I0)), torch.cat((I1, I1)), torch.tensor([0.1, 0.9]))
    assert not torch.allclose(outs[0], outs[2])
    # Near t = 0 the prediction leans to I0, near t = 1 to I1.
    assert (outs[0] - I0).abs().mean() < (outs[0] - I1).abs().mean()
    assert (outs[2] - I1).abs().mean() < (outs[2] - I0).abs().mean()
    torch.testing.assert_close(per_item, torch.cat((outs[0], outs[2])))


def test_custom_and_reference_ops_agree():
    torch.manual_seed(0)
    custom = DAIN(width=8).double()
    reference = DAIN(width=8, ops="reference").double()
    reference.load_state_dict(custom.state_dict())
    I0, I1 = frame_pair(2, 24, 40, torch.float64, seed=1)
    results = []
    for model in (custom, reference):
        out = model(I0, I1, 0.4)
        grads = torch.autograd.grad(out.square().mean(), list(model.parameters()))
        results.append((out, grads))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-9, atol=1e-9)
    assert_all_close(results[0][1], results[1][1], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "I1_shape,t,exc,match",
    [
        ((1, 3, 32, 40), 0.5, ValueError, r"expected I1 of I0's shape \(1, 3, 32, 48\)"),
        ((1, 3, 32, 48), 0.0, ValueError, r"t must lie strictly between 0 and 1"),
        ((1, 3, 32, 48), 1.0, ValueError, r"t must lie strictly between 0 and 1"),
        ((1, 3, 32, 48), torch.tensor([0.2, 0.4]), ValueError, r"one per batch item \(1\), but got 2"),
    ],
)
def test_bad_inputs(I1_shape, t, exc, match):
    model = DAIN(width=8)
    with pytest.raises(exc, match=match):
        model(torch.rand(1, 3, 32, 48), torch.rand(I1_shape), t)


def test_bad_frames_and_options():
    with pytest.raises(ValueError, match=r"frames of shape \[B, 3, H, W\]"):
        DAIN(width=8)(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 16))
    with pytest.raises(TypeError, match="I0's dtype and device"):
        DAIN(width=8)(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="ops must be one of"):
        DAIN(ops="cuda")


def test_constructor_arguments_are_checked():
    import numpy as np

    for width, exc, match in (
        (0, ValueError, "DAIN: width must be at least 2"),
        (-3, ValueError, "at least 2"),
        (1, ValueError, "at least 2"),
        (8.0, TypeError, "DAIN: width must be an integer"),
        (True, TypeError, "width must be an integer"),
        ("16", TypeError, "width"),
    ):
        with pytest.raises(exc, match=match):
            DAIN(width=width)
    assert DAIN(width=np.int64(4)).context.head[0].out_channels == 2  # any integer type


def test_frames_errors_name_the_frames_not_t():
    model = DAIN(width=8)
    frames = torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"DAIN: expected floating-point frames .* I0 of dtype torch.uint8"):
        model(frames, frames, 0.5)
    I0, I1 = frame_pair(1, 16, 16)
    with pytest.raises(TypeError, match="DAIN: expected t to be a number"):
        model(I0, I1, "0.5")
    with pytest.raises(ValueError, match="DAIN: t must lie strictly between 0 and 1"):
        model(I0, I1, float("nan"))
    with pytest.raises(TypeError, match="DAIN: expected I0 to be a tensor"):
        model(I0.numpy(), I1, 0.5)
