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


@njit(**JIT)  # type: ignore[untyped-decorator]
def _first_descent(t: NDArray[np.int64]) -> int:  # pragma: no cover - compiled by numba
    """Index ``i`` of the first ``t[i] > t[i + 1]``, or −1 when ``t`` is sorted.

    One pass without a temporary array (``np.diff`` would allocate and touch 8 bytes per
    tag, costing more than the correlation itself).
    """
    n = t.shape[0]
    bad = False
    for i in range(n - 1):  # no early exit, so that the loop vectorises
        bad |= t[i] > t[i + 1]
    if not bad:
        return -1
    for i in range(n - 1):
        if t[i] > t[i + 1]:
            return i
    return -1


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
        i = int(_first_descent(out))
        if i >= 0:
            raise ParameterError(
                name,
                f"array with t[{i}]={int(out[i])} > t[{i + 1}]={int(out[i + 1])}",
                "must be sorted in non-decreasing order",
            )
    return out


#: Start tags per block of the fast kernel: its lower-bound buffer (256 KiB) stays in cache.
_BLOCK = 1 << 15
#: The four merge lanes run in lock step while each has at least this many steps left.
_MIN_LOCKSTEP = 32
#: ``gap`` of a start tag with no stop tag at or after its window start (never < a span).
_NO_STOP = 2**62


@njit(**JIT)  # type: ignore[untyped-decorator]
def _finish_lane(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    i: int,
    stop: int,
    j: int,
    off: np.int64,
    lo: NDArray[np.int64],
    gap: NDArray[np.int64],
    first: int,
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Single-lane tail of :func:`_lower_bounds` (same branch-free merge step)."""
    n_b = b.shape[0]
    while i < stop and j < n_b:
        d = b[j] - (a[i] - off)
        c = int(d < 0)
        lo[i - first] = j
        gap[i - first] = d
        j += c
        i += 1 - c
    while i < stop:
        lo[i - first] = n_b
        gap[i - first] = _NO_STOP
        i += 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _lower_bounds(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    off: np.int64,
    lo: NDArray[np.int64],
    gap: NDArray[np.int64],
    first: int,
    stop: int,
    j_from: int,
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """``lo[i − first]`` = first ``j`` with ``b[j] ≥ a[i] − off``, for ``i`` in ``[first, stop)``.

    ``gap[i − first]`` receives ``b[lo] − (a[i] − off)`` (the value the merge step compared
    anyway), or a huge value when no such ``j`` exists.

    A sorted merge written without data-dependent branches (``c = b[j] < a[i] − off;
    j += c; i += 1 − c``), run as four independent lanes over the four quarters of the
    block so that the CPU overlaps their load–compare–add chains. Each lane starts at a
    binary search from ``j_from`` (a lower bound for the whole block). The lock-step loop
    runs ``s`` steps at a time, where ``s`` is the smallest number of steps any lane can take
    before reaching the end of its quarter or of ``b``, so it needs no bounds test per step.
    """
    n_b = b.shape[0]
    n = stop - first
    i0 = first
    i1 = first + n // 4
    i2 = first + n // 2
    i3 = first + (3 * n) // 4
    e0, e1, e2, e3 = i1, i2, i3, stop
    tail = b[j_from:]
    j0 = j_from + np.searchsorted(tail, a[i0] - off) if i0 < e0 else n_b
    j1 = j_from + np.searchsorted(tail, a[i1] - off) if i1 < e1 else n_b
    j2 = j_from + np.searchsorted(tail, a[i2] - off) if i2 < e2 else n_b
    j3 = j_from + np.searchsorted(tail, a[i3] - off) if i3 < e3 else n_b
    while True:
        s = min(e0 - i0, e1 - i1, e2 - i2, e3 - i3, n_b - j0, n_b - j1, n_b - j2, n_b - j3)
        if s < _MIN_LOCKSTEP:
            break
        for _ in range(s):
            d0 = b[j0] - (a[i0] - off)
            c0 = int(d0 < 0)
            lo[i0 - first] = j0
            gap[i0 - first] = d0
            j0 += c0
            i0 += 1 - c0
            d1 = b[j1] - (a[i1] - off)
            c1 = int(d1 < 0)
            lo[i1 - first] = j1
            gap[i1 - first] = d1
            j1 += c1
            i1 += 1 - c1
            d2 = b[j2] - (a[i2] - off)
            c2 = int(d2 < 0)
            lo[i2 - first] = j2
            gap[i2 - first] = d2
            j2 += c2
            i2 += 1 - c2
            d3 = b[j3] - (a[i3] - off)
            c3 = int(d3 < 0)
            lo[i3 - first] = j3
            gap[i3 - first] = d3
            j3 += c3
            i3 += 1 - c3
    _finish_lane(a, b, i0, e0, j0, off, lo, gap, first)
    _finish_lane(a, b, i1, e1, j1, off, lo, gap, first)
    _finish_lane(a, b, i2, e2, j2, off, lo, gap, first)
    _finish_lane(a, b, i3, e3, j3, off, lo, gap, first)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _bin_index(x: np.int64, inv: float, bin_width: np.int64) -> np.int64:
    """``x // bin_width`` for ``0 ≤ x`` without an integer division.

    The floating-point quotient has a relative error of a few 2^−53, so it is off by at most
    one while the quotient stays below 2^50 (callers guarantee it: a bin index, or a check);
    two integer comparisons correct it exactly.
    """
    q = np.int64(x * inv)
    q -= np.int64(q * bin_width > x)
    q += np.int64((q + 1) * bin_width <= x)
    return q


@njit(**JIT)  # type: ignore[untyped-decorator]
def _block_hits(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    off: np.int64,
    span: np.int64,
    first: int,
    stop: int,
    j_from: int,
    lo: NDArray[np.int64],
    gap: NDArray[np.int64],
    hits: NDArray[np.int64],
) -> int:  # pragma: no cover - compiled by numba, tested through the wrapper
    """For the start tags ``a[first:stop]``: which have a stop tag in ``[a − off, a − off + span)``.

    Fills ``lo[t]`` (first ``j`` with ``b[j] ≥ a[first + t] − off``) and ``gap[t]`` by the
    four-lane merge :func:`_lower_bounds`, then compacts without branches the offsets ``t``
    whose window holds at least one stop tag (``gap[t] < span``) into ``hits[:m]``; returns
    ``m``. Shared by every pair-counting kernel (linear histogram here, multi-tau levels in
    :mod:`qlight.timetags.multitau`).
    """
    _lower_bounds(a, b, off, lo, gap, first, stop, j_from)
    m = 0
    for t in range(stop - first):
        hits[m] = t
        m += int(gap[t] < span)
    return m


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

    Blocked sorted merge, O(len(a) + len(b) + number of pairs):

    1. for a block of start tags, the first stop tag of each window (``b ≥ a − shift − W``)
       by the four-lane branch-free merge :func:`_lower_bounds`;
    2. the start tags whose window holds at least one stop tag, compacted without branches
       from the gaps the merge step computed anyway (at 1 Mcps and ±100 ns only about one
       start tag in five has a partner);
    3. for those, every pair in the window, binned with :func:`_bin_index`.
    """
    n_a = a.shape[0]
    n_b = b.shape[0]
    off = shift + window
    span = 2 * window
    inv = 1.0 / bin_width
    lo = np.empty(min(n_a, _BLOCK), dtype=np.int64)
    gap = np.empty_like(lo)
    hits = np.empty_like(lo)
    j_from = 0
    for first in range(0, n_a, _BLOCK):
        stop = min(first + _BLOCK, n_a)
        m = _block_hits(a, b, off, span, first, stop, j_from, lo, gap, hits)
        j_from = min(lo[stop - first - 1], n_b)
        for h in range(m):
            t = hits[h]
            low = a[first + t] - off
            k = lo[t]
            while k < n_b:
                x = b[k] - low
                if x >= span:
                    break
                counts[_bin_index(x, inv, bin_width)] += 1
                k += 1


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
