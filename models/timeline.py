"""Which output frames fall between which source frames, at which t, for a new frame rate.

Rates are exact fractions (``parse_rate``). For sequences whose frames carry their own times
(videos, variable rates included), ``grid`` places output frames j / output_rate between the
source frames that enclose them, and ``subdivide`` puts N - 1 frames evenly between two source
frames at their own times (``--factor N`` on a variable-rate video).

Source frame i is at time i / source_rate; output frame j at time j / output_rate.
The output spans the source's first to last frame: j / output_rate <= (n - 1) / source_rate.
Output frame j lies between source frames i and i + 1 at t = j * source_rate / output_rate - i,
computed exactly (fractions): where t = 0 it is source frame i itself. ``--factor N`` is
output_rate = N * source_rate, which gives (n - 1) * N + 1 frames.
"""

import math
from fractions import Fraction
from typing import List, Sequence, Tuple, Union

Rate = Union[int, Fraction]
RATIONAL_MAX = 2**31 - 1  # FFmpeg's rationals: 32-bit numerator and denominator
NTSC = Fraction(1000, 1001)


def parse_rate(text: str, option: str) -> Fraction:
    """A frame rate from the command line, > 0: an integer ('60'), a fraction ('60000/1001') read
    exactly, or a decimal. A decimal that is N * 1000/1001 for a whole N, rounded to the digits given
    (29.97, 59.94, 23.976 or 23.98, 119.88), means that NTSC rate; any other decimal is read exactly
    (12.5 = 25/2). Numerator and denominator must fit FFmpeg's 32-bit rationals."""
    try:
        text = text.strip()
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError, AttributeError):
        raise ValueError(f"{option} must be a frame rate such as 60, 59.94 or 60000/1001, but got {text!r}") from None
    if rate <= 0:
        raise ValueError(f"{option} must be positive, but got {text}")
    if "/" not in text and rate.denominator != 1:
        digits = len(text.split(".", 1)[1]) if "." in text and "e" not in text.lower() else None
        whole = round(rate / NTSC)
        if digits is not None and whole >= 1 and round(whole * NTSC, digits) == rate:
            rate = whole * NTSC
    if rate.numerator > RATIONAL_MAX or rate.denominator > RATIONAL_MAX:
        raise ValueError(
            f"{option} {text} cannot be a frame rate: a video stores rates as fractions of two numbers "
            f"below 2^31 (e.g. 60, 59.94 or 60000/1001)"
        )
    return rate


def grid(start: Fraction, end: Fraction, rate: Rate) -> List[Tuple[Fraction, Fraction]]:
    """(time, t) of the output frames j / rate in [start, end) between two source frames at times
    start < end (seconds): t = (time - start) / (end - start); t = 0 is the source frame itself."""
    rate = Fraction(rate)
    first, last = math.ceil(start * rate), math.ceil(end * rate)
    return [(j / rate, (j / rate - start) / (end - start)) for j in range(first, last)]


def subdivide(start: Fraction, end: Fraction, factor: int) -> List[Tuple[Fraction, Fraction]]:
    """(time, t) of factor frames evenly in [start, end): the source frame at start (t = 0) and
    factor - 1 new ones."""
    return [(start + Fraction(k, factor) * (end - start), Fraction(k, factor)) for k in range(factor)]


def plan(times: Sequence[Fraction], rate=None, factor=None) -> List[Fraction]:
    """Every output frame time for source frames at times (increasing, seconds): on the grid
    j / rate from the first to the last, or subdivided by factor."""
    out: List[Fraction] = []
    for start, end in zip(times, times[1:]):
        if end > start:
            out += [time for time, _ in (grid(start, end, rate) if rate else subdivide(start, end, factor))]
    if times and (not rate or (times[-1] * Fraction(rate)).denominator == 1):
        out.append(times[-1])
    return out


def time_base(times: Sequence[Fraction]) -> Fraction:
    """The coarsest time base in which every time is a whole number of ticks: 1 / lcm(denominators)."""
    lcm = 1
    for time in times:
        lcm = lcm * Fraction(time).denominator // math.gcd(lcm, Fraction(time).denominator)
    return Fraction(1, lcm)


def between(i: int, source_rate: Rate, output_rate: Rate) -> List[Tuple[int, Fraction]]:
    """(j, t) of the output frames at times in [i, i + 1) / source_rate: t = 0 is source frame i."""
    ratio = Fraction(output_rate) / Fraction(source_rate)  # output frames per source frame
    first = -((-i * ratio) // 1)  # ceil(i * ratio)
    last = -((-(i + 1) * ratio) // 1)  # ceil((i + 1) * ratio), excluded
    return [(j, j / ratio - i) for j in range(int(first), int(last))]


def ends_on_source(n: int, source_rate: Rate, output_rate: Rate) -> bool:
    """Whether the source's last frame (n - 1) is itself an output frame."""
    return ((n - 1) * Fraction(output_rate) / Fraction(source_rate)).denominator == 1


def output_count(n: int, source_rate: Rate, output_rate: Rate) -> int:
    """How many output frames n source frames give."""
    if n <= 0:
        return 0
    return int((n - 1) * Fraction(output_rate) / Fraction(source_rate) // 1) + 1
