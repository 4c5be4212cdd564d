"""All-pairs cross-correlation histogram of two time-tag streams.

This is the one correlation primitive of qlight: :func:`cross_correlate` histograms every
pair difference ``(b_j + delay_b) − (a_i + delay_a)`` that falls in ``[−window, +window)``
(half-open bins, exact integer picoseconds). Normalisations (g2 CW, pulsed ratio) live in
:mod:`qlight.timetags.g2`.

References
----------
All-pairs (not start–stop) counting in half-open integer bins is the convention of
``REFERENCES.md`` ("Time tags"); start–stop histograms are biased towards short delays by the
missing later stops.
"""

from __future__ import annotations

import operator

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError

__all__ = ["as_time_tags", "check_integer", "cross_correlate"]

#: Largest |timestamp| + |delay| + window accepted, so that no int64 sum can overflow.
_MAX_ABS_PS = 2**62


def check_integer(name: str, value: object) -> int:
    """Return ``value`` as a Python ``int`` if it is an integer (not a bool), else raise.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : object
        Candidate value; Python and NumPy integers are accepted.

    Returns
    -------
    int
        The value as a Python integer.

    Raises
    ------
    ParameterError
        If ``value`` is not an integer (floats, even integral ones, are refused so that a
        duration in seconds is never mistaken for picoseconds).
    """
    if isinstance(value, bool | np.bool_):
        raise ParameterError(name, value, "must be an integer number of picoseconds")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ParameterError(name, value, "must be an integer number of picoseconds") from None


def as_time_tags(name: str, t_ps: ArrayLike) -> NDArray[np.int64]:
    """Validate one channel of time tags and return it as a contiguous ``int64`` array.

    Parameters
    ----------
    name : str
        Parameter name used in error messages (``"a_ps"``).
    t_ps : array_like of int
        Time tags in picoseconds: one-dimensional, integer dtype, sorted non-decreasing.

    Returns
    -------
    numpy.ndarray of int64
        The same tags (a view when no conversion was needed).

    Raises
    ------
    ParameterError
        If the array is not one-dimensional, not of an integer dtype, does not fit into
        int64, or is not sorted.
    """
    arr = np.asarray(t_ps)
    if arr.ndim != 1:
        raise ParameterError(name, f"array of shape {arr.shape}", "must be one-dimensional")
    if arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":
            # An empty list becomes float64 in NumPy; it holds no tag, so accept it.
            return np.zeros(0, dtype=np.int64)
        raise ParameterError(
            name, f"array of dtype {arr.dtype}", "must have an integer dtype (int64 picoseconds)"
        )
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ParameterError(name, f"max {int(arr.max())}", "must fit into int64")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if out.size > 1:
        steps = np.diff(out)
        if np.any(steps < 0):
            i = int(np.argmax(steps < 0))
            raise ParameterError(
                name,
                f"array with t[{i}]={int(out[i])} > t[{i + 1}]={int(out[i + 1])}",
                "must be sorted in non-decreasing order",
            )
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _cross_correlate(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    shift: np.int64,
    window: np.int64,
    bin_width: np.int64,
    counts: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Add all pair differences ``b[j] + shift − a[i]`` in ``[−window, window)`` to ``counts``.

    Sliding two-pointer scan: for sorted ``a`` the first ``b`` inside the window of ``a[i]``
    never moves backwards, so the work is O(len(a) + len(b) + number of pairs).
    """
    n_b = b.shape[0]
    lo = 0
    for i in range(a.shape[0]):
        # A pair counts when  -window <= b + shift - a < window,
        # i.e. a - shift - window <= b < a - shift + window.
        low = a[i] - shift - window
        high = a[i] - shift + window
        while lo < n_b and b[lo] < low:
            lo += 1
        j = lo
        while j < n_b and b[j] < high:
            # d + window >= 0 here, so // is the floor of the bin index.
            counts[(b[j] + shift - a[i] + window) // bin_width] += 1
            j += 1


def cross_correlate(
    a_ps: ArrayLike,
    b_ps: ArrayLike,
    *,
    window_ps: int,
    bin_ps: int,
    delay_a_ps: int = 0,
    delay_b_ps: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Histogram of all pair delays ``τ = (b + delay_b) − (a + delay_a)`` in ``[−W, +W)``.

    Every pair of one tag from ``a`` and one from ``b`` whose delay lies in
    ``[−window_ps, +window_ps)`` is counted once in the half-open bin
    ``[lag_k, lag_k + bin_ps)`` that contains it (all pairs, not start–stop). Arithmetic is
    exact int64; negative delays fall in bins by floor division.

    Parameters
    ----------
    a_ps, b_ps : array_like of int
        Sorted time tags of the start and stop channels in picoseconds (int64 or any integer
        dtype that fits). Empty arrays are allowed.
    window_ps : int
        Half range ``W`` of the histogram, > 0 and an integer multiple of ``bin_ps``.
    bin_ps : int
        Bin width, > 0.
    delay_a_ps, delay_b_ps : int, optional
        Delays added to every tag of channel a or b before correlating (cable or detector
        offsets; may be negative). Only ``delay_b_ps − delay_a_ps`` matters.

    Returns
    -------
    lags_ps : numpy.ndarray of int64
        Left bin edges ``−W, −W + bin, …, W − bin`` (``2·W/bin`` values).
    counts : numpy.ndarray of int64
        Number of pairs per bin.

    Raises
    ------
    ParameterError
        For unsorted, non-integer or multi-dimensional tags, a non-positive window or bin, a
        window that is not a multiple of the bin, non-integer delays, or values so large that
        int64 arithmetic could overflow (|t| + |delay| + W ≥ 2^62).

    References
    ----------
    All-pairs histogram with half-open integer bins: ``REFERENCES.md`` ("Time tags").

    Examples
    --------
    >>> import numpy as np
    >>> lags, counts = cross_correlate(
    ...     np.array([0, 100]), np.array([50, 120]), window_ps=100, bin_ps=50
    ... )
    >>> lags.tolist(), counts.tolist()
    ([-100, -50, 0, 50], [0, 1, 1, 1])
    """
    window = check_integer("window_ps", window_ps)
    width = check_integer("bin_ps", bin_ps)
    if width <= 0:
        raise ParameterError("bin_ps", bin_ps, "must be > 0")
    if window <= 0:
        raise ParameterError("window_ps", window_ps, "must be > 0")
    if window % width:
        raise ParameterError("window_ps", window_ps, f"must be a multiple of bin_ps={width}")
    da = check_integer("delay_a_ps", delay_a_ps)
    db = check_integer("delay_b_ps", delay_b_ps)
    a = as_time_tags("a_ps", a_ps)
    b = as_time_tags("b_ps", b_ps)
    for name, arr, delay in (("a_ps", a, da), ("b_ps", b, db)):
        if arr.size and max(abs(int(arr[0])), abs(int(arr[-1]))) + abs(delay) + window >= (
            _MAX_ABS_PS
        ):
            raise ParameterError(name, "array", "must satisfy |t| + |delay| + window_ps < 2**62")
    n_bins = 2 * window // width
    lags_ps = np.arange(-window, window, width, dtype=np.int64)
    counts = np.zeros(n_bins, dtype=np.int64)
    if a.size and b.size:
        _cross_correlate(a, b, np.int64(db - da), np.int64(window), np.int64(width), counts)
    return lags_ps, counts
