"""Argument checks shared by the models: each error names the model and the argument."""

import numbers
from typing import Union

import torch
from torch import Tensor


def check_int(owner: str, name: str, value, minimum: int) -> int:
    """value as an int >= minimum (any integer type; bool and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, but got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, but got {value}")
    return int(value)


def check_fraction(owner: str, name: str, value) -> float:
    """value as a float in [0, 1] (NaN and other types refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number in [0, 1], but got {value!r} ({type(value).__name__})")
    if not 0.0 <= float(value) <= 1.0:  # False for NaN
        raise ValueError(f"{owner}: {name} must lie in [0, 1], but got {value}")
    return float(value)


def check_frames(owner: str, I0: Tensor, I1: Tensor, t: Union[float, Tensor]) -> Tensor:
    """Validates a pair of frames [B, 3, H, W] (floating point, values in [0, 1], H and W >= 1) and t;
    returns t as a [B, 1, 1, 1] tensor of the frames' dtype and device."""
    for name, frame in (("I0", I0), ("I1", I1)):
        if not isinstance(frame, Tensor):
            raise TypeError(f"{owner}: expected {name} to be a tensor, but got {type(frame).__name__}")
    if I0.dim() != 4 or I0.shape[1] != 3:
        raise ValueError(f"{owner}: expected frames of shape [B, 3, H, W], but got I0 of shape {tuple(I0.shape)}")
    if I1.shape != I0.shape:
        raise ValueError(f"{owner}: expected I1 of I0's shape {tuple(I0.shape)}, but got {tuple(I1.shape)}")
    if I0.shape[2] == 0 or I0.shape[3] == 0:
        raise ValueError(
            f"{owner}: expected frames of at least 1 x 1 pixels, but got I0 and I1 of shape {tuple(I0.shape)} "
            f"({I0.shape[2]} high, {I0.shape[3]} wide)"
        )
    if not I0.is_floating_point():
        raise TypeError(
            f"{owner}: expected floating-point frames with values in [0, 1], but got I0 of dtype "
            f"{I0.dtype} (for 8-bit frames: I0.float() / 255)"
        )
    if I1.dtype != I0.dtype or I1.device != I0.device:
        raise TypeError(
            f"{owner}: expected I1 with I0's dtype and device ({I0.dtype}, {I0.device}), "
            f"but got {I1.dtype}, {I1.device}"
        )
    return check_t(owner, t, I0).to(I0.dtype)


def check_t(owner: str, t: Union[float, Tensor], I0: Tensor) -> Tensor:
    """Validates t as given (a number, or one per batch item of I0), in float64 so that no rounding
    to the frames' dtype comes first (t = 0.9999 is inside (0, 1) even for float16 frames); returns
    it as a float64 [B, 1, 1, 1] tensor on I0's device."""
    if isinstance(t, Tensor):
        if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)) or t.is_complex():
            raise TypeError(f"{owner}: expected t to be a real number or a tensor of them, but got dtype {t.dtype}")
    elif isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(
            f"{owner}: expected t to be a number in (0, 1) or a tensor of one per batch item, "
            f"but got {type(t).__name__}"
        )
    t = torch.as_tensor(t, dtype=torch.float64, device=I0.device)
    if t.dim() == 0:
        t = t.expand(I0.shape[0])
    t = t.reshape(-1, 1, 1, 1)
    if t.shape[0] != I0.shape[0]:
        raise ValueError(
            f"{owner}: expected t to be a number or one per batch item ({I0.shape[0]}), but got {t.shape[0]}"
        )
    if not bool(((t > 0) & (t < 1)).all()):
        raise ValueError(f"{owner}: t must lie strictly between 0 and 1, but got {t.flatten().tolist()}")
    return t
