"""Test inputs shared by the op tests (generated, no data files)."""

import torch


def off_integer_flow(B, H, W, h_in, w_in, dtype=torch.float64, device="cpu", spread=1.5):
    """A flow whose sampling positions x + u, y + v keep at least 0.2 px away from
    integers (where bilinear sampling has kinks), so finite differences are valid.
    Positions spread up to `spread` times the input size, in and out of range."""
    xs = torch.arange(W, dtype=dtype, device=device).view(1, 1, W)
    ys = torch.arange(H, dtype=dtype, device=device).view(1, H, 1)

    def target(n_in, shape):
        base = torch.randint(int(-spread * n_in) - 1, int(spread * n_in) + 1, shape, device=device).to(dtype)
        return base + 0.5 + 0.6 * (torch.rand(shape, dtype=dtype, device=device) - 0.5)

    u = target(w_in, (B, H, W)) - xs
    v = target(h_in, (B, H, W)) - ys
    return torch.stack((u, v), dim=1)


def smooth_flow(B, H, W, magnitude, dtype=torch.float32, device="cpu"):
    """A smooth random flow, like real motion: upsampled coarse noise."""
    coarse = torch.randn(B, 2, max(2, H // 32), max(2, W // 32), dtype=dtype, device=device)
    flow = torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)
    return flow * magnitude


def sprinkle_non_finite(flow, fraction=0.1):
    """Replace a fraction of the flow values with NaN, +-inf and +-1e30."""
    flow = flow.clone()
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -1e30], dtype=flow.dtype)
    mask = torch.rand(flow.shape) < fraction
    picks = specials[torch.randint(0, len(specials), (int(mask.sum()),))]
    flow[mask.to(flow.device)] = picks.to(flow.device)
    return flow


def strided(t):
    """A non-contiguous view equal to t (every other column of a wider tensor)."""
    wide = t.new_zeros(t.shape[:-1] + (2 * t.shape[-1],))
    wide[..., ::2] = t
    return wide[..., ::2]


class DeterministicAlgorithms:
    """``with DeterministicAlgorithms():`` runs its body under torch.use_deterministic_algorithms(True)."""

    def __enter__(self):
        self.previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)

    def __exit__(self, *exc):
        torch.use_deterministic_algorithms(self.previous)


def frame_pair(B, H, W, dtype=torch.float32, seed=0):
    """Two random frames [B, 3, H, W] in [0, 1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, H, W, generator=g, dtype=dtype), torch.rand(B, 3, H, W, generator=g, dtype=dtype)


def assert_all_close(actual, expected, **kwargs):
    """torch.testing.assert_close on each pair of two equally long sequences of
    tensors (actual moved to expected's device), naming the failing position."""
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{len(actual)} results, expected {len(expected)}"
    for i, (a, b) in enumerate(zip(actual, expected)):
        torch.testing.assert_close(a.to(b.device), b, msg=lambda m: f"result {i}: {m}", **kwargs)
