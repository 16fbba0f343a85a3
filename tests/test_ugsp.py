import pytest
import torch
from vfi_ops.models.data import SyntheticTriplets
from vfi_ops.models.losses import census_loss, charbonnier, guidance_loss, sparsity_loss, uncertainty_loss
from vfi_ops.models.ugsp import UGSP, UncertaintyNet, active_fraction, hard_mask

from helpers import frame_pair


def test_forward_backward_every_parameter_learns():
    torch.manual_seed(0)
    model = UGSP(width=8)
    I0, I1 = frame_pair(2, 35, 45)
    out, aux = model(I0, I1, torch.tensor([0.3, 0.6]), return_aux=True)
    assert out.shape == (2, 3, 35, 45) and torch.isfinite(out).all()
    assert [p.shape[2:] for p in aux["probs"]] == [(6, 6), (12, 12), (24, 24)]  # 1/8, 1/4, 1/2 of 48x48
    loss = charbonnier(out, 0.5 * (I0 + I1)) + sparsity_loss(aux["probs"], 0.3)
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without a gradient: {silent}"


def test_training_multiplies_by_the_soft_masks():
    # In training every mode but "dense" computes everything times the soft mask,
    # so that the reconstruction loss reaches the masks through the decoders.
    torch.manual_seed(0)
    model = UGSP(width=8).double()
    I0, I1 = frame_pair(1, 32, 32, torch.float64, seed=6)
    out, aux = model(I0, I1, 0.5, mode="sparse", return_aux=True)
    torch.testing.assert_close(out, model(I0, I1, 0.5, mode="masked"), rtol=0, atol=0)
    # The finest level's mask acts on the output only through its decoder.
    grad = torch.autograd.grad(out.square().sum(), aux["probs"][-1], allow_unused=True)[0]
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("keep,threshold", [(0.1, 0.5), (0.3, 0.5), (0.7, 0.5), (None, 0.5), (None, 0.499)])
def test_sparse_equals_dense_masked(keep, threshold):
    torch.manual_seed(0)
    model = UGSP(width=8).double().eval()
    I0, I1 = frame_pair(2, 40, 56, torch.float64, seed=1)
    with torch.no_grad():
        sparse, aux = model(I0, I1, 0.4, mode="sparse", keep=keep, threshold=threshold, return_aux=True)
        masked = model(I0, I1, 0.4, mode="masked", keep=keep, threshold=threshold)
    torch.testing.assert_close(sparse, masked, rtol=1e-10, atol=1e-10)
    # Under no_grad the hidden layers reuse two buffers (the op's out=); with autograd on they cannot.
    torch.testing.assert_close(
        model(I0, I1, 0.4, mode="sparse", keep=keep, threshold=threshold), sparse, rtol=0, atol=0
    )
    if keep is not None:
        assert active_fraction(aux["masks"]) == pytest.approx(keep, abs=0.05)


def test_all_on_and_all_off_masks():
    torch.manual_seed(0)
    model = UGSP(width=8).eval()
    I0, I1 = frame_pair(1, 32, 48, seed=2)
    with torch.no_grad():
        dense = model(I0, I1, 0.5, mode="dense")
        torch.testing.assert_close(model(I0, I1, 0.5, keep=1.0), dense, rtol=1e-4, atol=1e-5)
        off = model(I0, I1, 0.5, keep=0.0)
        # With every mask off the pruned decoders compute nothing: their weights do not matter.
        for decoder in model.decoders:
            for layer in decoder.layers:
                layer.weight.add_(1.0)
        torch.testing.assert_close(model(I0, I1, 0.5, keep=0.0), off)
        assert not torch.allclose(model(I0, I1, 0.5, mode="dense"), dense)


def test_masks_follow_the_sparsity_target():
    I0, I1 = frame_pair(2, 32, 32, seed=3)
    means = {}
    for target in (0.1, 0.9):
        torch.manual_seed(0)
        model = UGSP(width=8)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(15):
            _, aux = model(I0, I1, 0.5, return_aux=True)
            loss = sparsity_loss(aux["probs"], target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            _, aux = model(I0, I1, 0.5, return_aux=True)
        means[target] = sum(p.mean().item() for p in aux["probs"]) / 3
    assert means[0.1] < 0.4 < 0.6 < means[0.9]


def test_training_steps_reduce_the_loss():
    batch = [torch.stack(x) for x in zip(*[SyntheticTriplets(length=4, size=32, seed=5)[i] for i in range(4)])]
    I0, It, I1, t = batch
    torch.manual_seed(0)
    model, uen = UGSP(width=8), UncertaintyNet(width=8)
    optimizer = torch.optim.Adam(list(model.parameters()) + list(uen.parameters()), lr=2e-3)
    losses = []
    for _ in range(20):
        estimate, log_u = uen(I0, I1, t)
        out, aux = model(I0, I1, t, return_aux=True)
        loss = (
            charbonnier(out, It)
            + 0.1 * sparsity_loss(aux["probs"], 0.3)
            + 0.1 * guidance_loss(aux["probs"], log_u)
            + uncertainty_loss(estimate, It, log_u)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0]


def test_uncertainty_net_and_losses():
    I0, I1 = frame_pair(2, 33, 41, seed=4)
    estimate, log_u = UncertaintyNet(width=8)(I0, I1, 0.5)
    assert estimate.shape == I0.shape and log_u.shape == (2, 1, 33, 41)
    x = I0[:1]
    assert census_loss(x, x).item() == 0 and census_loss(x, x + 0.2).item() < 1e-6  # brightness-invariant
    assert census_loss(x, I1[:1]).item() > 0.05
    # L_su is smallest where exp(U) matches the error: d/dU (e^-U err + 2U) = 0 at U = log(err / 2).
    err = torch.full((1, 1, 4, 4), 0.2)
    best = uncertainty_loss(err.expand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.log(err / 2))
    worse = uncertainty_loss(err.expand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.log(err / 2) + 0.5)
    assert best < worse


def test_hard_mask():
    prob = torch.rand(2, 1, 10, 10)
    assert hard_mask(prob, 0.25, 0.5).flatten(1).sum(1).tolist() == [25.0, 25.0]
    assert torch.equal(hard_mask(prob, None, 0.5), (prob > 0.5).float())
    assert not hard_mask(prob, 0.0, 0.5).any()


def test_bad_inputs():
    model = UGSP(width=8).eval()
    I0, I1 = frame_pair(1, 32, 32)
    with pytest.raises(ValueError, match="mode must be one of"):
        model(I0, I1, 0.5, mode="half")
    with pytest.raises(ValueError, match=r"keep must lie in \[0, 1\]"):
        model(I0, I1, 0.5, keep=1.5)
    with pytest.raises(ValueError, match="expected I1 of I0's shape"):
        model(I0, I1[..., :30], 0.5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model(I0, I1, 1.0)


def test_errors_name_the_model_and_the_argument():
    model = UGSP(width=8).eval()
    I0, I1 = frame_pair(1, 32, 32)
    with pytest.raises(ValueError, match=r"^UGSP: expected I1 of I0's shape"):
        model(I0, I1[..., :30], 0.5)
    with pytest.raises(TypeError, match=r"^UGSP: expected floating-point frames"):
        model((I0 * 255).byte(), (I1 * 255).byte(), 0.5)
    with pytest.raises(ValueError, match=r"UGSP: threshold must lie in \[0, 1\], but got nan"):
        model(I0, I1, 0.5, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"UGSP: threshold must lie in \[0, 1\], but got nan"):
        model.set_inference(threshold=float("nan"))
    with pytest.raises(ValueError, match=r"UGSP: keep must lie in \[0, 1\], but got nan"):
        model(I0, I1, 0.5, keep=float("nan"))
    with pytest.raises(TypeError, match="UGSP: keep must be a number"):
        model(I0, I1, 0.5, keep="0.3")
    with pytest.raises(TypeError, match="UGSP: return_aux must be True or False"):
        model(I0, I1, 0.5, return_aux="yes")
    for width, exc in ((0, ValueError), (-2, ValueError), (2.5, TypeError)):
        with pytest.raises(exc, match="UGSP: width must be"):
            UGSP(width=width)
    with pytest.raises(ValueError, match="UncertaintyNet: width must be at least 1"):
        UncertaintyNet(width=0)
    with pytest.raises(ValueError, match="^UncertaintyNet: expected frames of shape"):
        UncertaintyNet(width=8)(I0[:, :2], I1[:, :2], 0.5)
