"""Structural similarity (SSIM) of images, fast: a separable Gaussian window in float32.

Wang, Bovik, Sheikh and Simoncelli, "Image Quality Assessment: From Error
Visibility to Structural Similarity", IEEE TIP 2004: an 11 x 11 Gaussian window
of standard deviation 1.5, constants (0.01)^2 and (0.03)^2 for values in [0, 1],
the map over the valid region (no padding) of each channel, averaged.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_window(size: int, sigma: float = 1.5, dtype=torch.float32) -> Tensor:
    """The normalised 1-D Gaussian of ``size`` taps (odd), centred."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def ssim(prediction: Tensor, target: Tensor, dtype=torch.float32) -> float:
    """Mean SSIM of two images or batches of one shape ``[..., H, W]`` (values in [0, 1]).

    The 11 x 11 window is applied as two 1-D passes (rows, then columns) in ``dtype``
    (float32 by default: within 1e-4 of the float64 result); frames smaller than 11
    pixels get the largest odd window that fits. Returns a Python float in [-1, 1]."""
    if prediction.shape != target.shape or prediction.dim() < 2:
        raise ValueError(
            f"ssim: expected two images of one shape [..., H, W], but got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )
    H, W = prediction.shape[-2:]
    x = prediction.to(dtype).reshape(-1, 1, H, W)
    y = target.to(dtype).reshape(-1, 1, H, W)
    size = min(11, H, W)
    size -= 1 - size % 2
    g = gaussian_window(size, dtype=dtype).to(x.device)
    rows, cols = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)
    # The five moments of every channel at once: one pair of 1-D convolutions.
    stack = torch.cat((x, y, x * x, y * y, x * y), 1).reshape(-1, 1, H, W)
    blurred = F.conv2d(F.conv2d(stack, rows), cols).reshape(x.shape[0], 5, H - size + 1, W - size + 1)
    mu_x, mu_y, xx, yy, xy = blurred.unbind(1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_xy + c1) * (2 * (xy - mu_xy) + c2)) / ((mu_xx + mu_yy + c1) * (xx - mu_xx + yy - mu_yy + c2))
    return s.double().mean().item()
