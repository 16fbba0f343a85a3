"""Training losses of the models."""

from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor


def charbonnier(prediction: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """mean(sqrt((prediction - target)^2 + eps^2)): a smooth L1."""
    return torch.sqrt((prediction - target) ** 2 + eps * eps).mean()


def census_transform(x: Tensor, radius: int = 3) -> Tensor:
    """Soft census signature of each pixel: (neighbour - centre) / sqrt(0.81 + (neighbour - centre)^2)
    for the (2r+1)^2 - 1 neighbours, on the channel mean."""
    gray = x.mean(1, keepdim=True)
    size = 2 * radius + 1
    patches = F.unfold(F.pad(gray, [radius] * 4, mode="replicate"), size).view(x.shape[0], size * size, *x.shape[2:])
    diff = patches - gray
    return diff / torch.sqrt(0.81 + diff * diff)


def census_loss(a: Tensor, b: Tensor, radius: int = 3) -> Tensor:
    """Distance between the census signatures of a and b (robust to brightness changes)."""
    d = (census_transform(a, radius) - census_transform(b, radius)) ** 2
    return (d / (0.1 + d)).mean()


def sparsity_loss(probs: List[Tensor], target: float) -> Tensor:
    """Pulls the mean mask probability of each level toward the target fraction S_t."""
    return sum((p.mean() - target) ** 2 for p in probs) / len(probs)


def guidance_loss(probs: List[Tensor], uncertainty: Tensor) -> Tensor:
    """Pulls each level's mask toward the (downsampled, per-image normalised) uncertainty:
    compute where the uncertainty estimation network finds the frame hard."""
    u = uncertainty.detach()
    lo = u.flatten(1).min(1).values.view(-1, 1, 1, 1)
    hi = u.flatten(1).max(1).values.view(-1, 1, 1, 1)
    u = (u - lo) / (hi - lo).clamp_min(1e-6)
    return sum(F.l1_loss(p, F.adaptive_avg_pool2d(u, p.shape[2:])) for p in probs) / len(probs)


def uncertainty_loss(prediction: Tensor, target: Tensor, log_uncertainty: Tensor) -> Tensor:
    """UGSP's L_su = exp(-U) * |I_t - f(I0, I1)|_1 + 2U, per pixel (U = log_uncertainty)."""
    error = (prediction - target).abs().mean(1, keepdim=True)
    return (torch.exp(-log_uncertainty) * error + 2 * log_uncertainty).mean()
