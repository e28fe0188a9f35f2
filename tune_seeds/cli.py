"""Argparse types shared by the command-line scripts: a value is checked where it is typed.

>>> number(int, 1)("3"), number(float, 0, 1, low_open=True)("0.5")
(3, 0.5)
>>> number(float, 0, 1, low_open=True)("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be in (0, 1], got 0.0
>>> number(int, 2)("1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be at least 2, got 1
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def number(kind: type, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float) within [low, high], open ends where asked."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from err
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {_bounds(low, high, low_open, high_open)}, "
                                             f"got {value}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"above {low:g}" if low_open else f"at least {low:g}"
    if low is None:
        return f"below {high:g}" if high_open else f"at most {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
