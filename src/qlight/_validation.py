"""Validators shared by the public wrappers; each raises ParameterError naming the value."""

from __future__ import annotations

import math

from qlight.errors import ParameterError

__all__ = [
    "check_finite",
    "check_fraction",
    "check_nonnegative",
    "check_positive",
    "check_positive_int",
]


def check_finite(name: str, value: float) -> float:
    """Return ``float(value)`` if it is a finite number, else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "must be a number") from None
    if not math.isfinite(v):
        raise ParameterError(name, value, "must be finite")
    return v


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is finite and > 0, else raise."""
    v = check_finite(name, value)
    if v <= 0.0:
        raise ParameterError(name, value, "must be > 0")
    return v


def check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` if it is finite and >= 0, else raise."""
    v = check_finite(name, value)
    if v < 0.0:
        raise ParameterError(name, value, "must be >= 0")
    return v


def check_fraction(name: str, value: float) -> float:
    """Return ``value`` if it lies in the closed interval [0, 1], else raise."""
    v = check_finite(name, value)
    if not 0.0 <= v <= 1.0:
        raise ParameterError(name, value, "must be in [0, 1]")
    return v


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an integer > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(name, value, "must be an integer > 0")
    return value
