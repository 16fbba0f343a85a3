"""Which output frames fall between which source frames, at which t, for a new frame rate.

Source frame i is at time i / source_rate; output frame j at time j / output_rate.
The output spans the source's first to last frame: j / output_rate <= (n - 1) / source_rate.
Output frame j lies between source frames i and i + 1 at t = j * source_rate / output_rate - i,
computed exactly (fractions): where t = 0 it is source frame i itself. ``--factor N`` is
output_rate = N * source_rate, which gives (n - 1) * N + 1 frames.
"""

from fractions import Fraction
from typing import List, Tuple, Union

Rate = Union[int, Fraction]


def parse_rate(text: str, option: str) -> Fraction:
    """A frame rate from the command line: '60', '59.94' or '60000/1001', > 0."""
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError, AttributeError):
        raise ValueError(f"{option} must be a frame rate such as 60, 59.94 or 60000/1001, but got {text!r}") from None
    if rate <= 0:
        raise ValueError(f"{option} must be positive, but got {text}")
    return rate


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
