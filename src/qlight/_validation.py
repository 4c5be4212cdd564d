"""Validators shared by the public wrappers; each raises ParameterError naming the value."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.errors import ParameterError

__all__ = [
    "check_bits",
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


def check_bits(name: str, value: ArrayLike, *, allow_empty: bool = False) -> NDArray[np.uint8]:
    """Return ``value`` as a contiguous 1-D ``uint8`` array of 0/1 bits, else raise.

    Integer and boolean arrays are accepted (converted without copying a ``uint8`` input);
    floats, other shapes, values other than 0 and 1 and (unless ``allow_empty``) empty
    arrays are refused with the reason.
    """
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size == 0 and not allow_empty):
        raise ParameterError(name, arr.shape, "must be a non-empty 1-D array of bits")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
            raise ParameterError(name, arr.dtype, "must hold integers 0/1")
        if arr.size and int(arr.min()) < 0:
            raise ParameterError(name, int(arr.min()), "must hold only 0 and 1")
        arr = arr.astype(np.uint8)
    if arr.size and int(arr.max()) > 1:
        raise ParameterError(name, int(arr.max()), "must hold only 0 and 1")
    return np.ascontiguousarray(arr)
