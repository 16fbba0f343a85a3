"""What the vfi-* commands share: argument types that name the option, and up-front checks."""

import argparse
import math
import os

import torch


def integer(minimum: int):
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, but got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, but got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def real(low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite number in [low, high] (ends excluded where open)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, but got {text!r}") from None
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, but got {text}")
        return value

    parse.__name__ = "number"
    return parse


def check_device(text: str, option: str = "--device") -> torch.device:
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"{option} must be a torch device such as cpu or cuda:0, but got {text!r}") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"{option} {text}: no such CUDA device is available here")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{option} must be cpu or cuda, but got {text!r}")
    return device


def same_path(a: str, b: str) -> bool:
    """Whether two paths name the same file or folder (through links, and before either exists)."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_output_file(path: str, option: str, overwrite: bool, inputs=()) -> None:
    """An output file path: not a folder, not one of the inputs, not an existing file unless overwrite."""
    if os.path.isdir(path) or path.endswith(os.sep):
        raise ValueError(f"{option} {path} is a folder; give a file name")
    for source in inputs:
        if same_path(path, source):
            raise ValueError(f"{option} {path} is an input; writing it would destroy it")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{option} {path} exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise ValueError(f"{option} {path}: cannot write into {existing}")
