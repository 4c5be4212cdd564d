"""TCSPC lifetime histograms: photon delays after the excitation pulse.

* :func:`lifetime_histogram_t3` — T3 data: the tagger already measured each photon's delay
  after the last sync (the *microtime*); histogram it.
* :func:`lifetime_histogram_t2` — T2 data: the sync (laser) pulses are a channel of their
  own; each photon is referenced to the most recent sync tag at or before it.

Both use half-open bins ``[k·Δ, (k+1)·Δ)`` over ``[0, range)`` in exact integer picoseconds.

References
----------
Time-correlated single-photon counting: W. Becker, *Advanced Time-Correlated Single Photon
Counting Techniques* (Springer, 2005), ch. 3 (reversed start–stop: each photon is timed
against the preceding sync pulse). Half-open integer bins: ``REFERENCES.md`` ("Time tags").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer

__all__ = ["LifetimeHistogram", "lifetime_histogram_t2", "lifetime_histogram_t3"]


@dataclass(frozen=True)
class LifetimeHistogram:
    """A TCSPC histogram.

    Attributes
    ----------
    t_ps : numpy.ndarray of int64
        Left bin edges ``0, Δ, …, range − Δ``.
    counts : numpy.ndarray of int64
        Photons per bin.
    bin_ps, range_ps : int
        Bin width and histogram range.
    n_photons : int
        Photons offered (every tag of the photon channel).
    n_outside : int
        Photons not counted: delay outside ``[0, range)`` or (T2) no sync before them.
    """

    t_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    bin_ps: int
    range_ps: int
    n_photons: int
    n_outside: int


def _check_bins(bin_ps: int, range_ps: int) -> tuple[int, int]:
    width = check_integer("bin_ps", bin_ps)
    if width <= 0:
        raise ParameterError("bin_ps", bin_ps, "must be > 0")
    span = check_integer("range_ps", range_ps)
    if span <= 0 or span % width:
        raise ParameterError("range_ps", range_ps, f"must be > 0 and a multiple of bin_ps={width}")
    return width, span


@njit(**JIT)  # type: ignore[untyped-decorator]
def _histogram_microtimes(
    micro: NDArray[np.int64], width: np.int64, span: np.int64, counts: NDArray[np.int64]
) -> int:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Add each ``0 ≤ m < span`` to ``counts[m // width]``; return how many fell outside."""
    outside = 0
    for m in micro:
        if 0 <= m < span:
            counts[m // width] += 1
        else:
            outside += 1
    return outside


@njit(**JIT)  # type: ignore[untyped-decorator]
def _histogram_after_sync(
    sync: NDArray[np.int64],
    t: NDArray[np.int64],
    delay: np.int64,
    width: np.int64,
    span: np.int64,
    counts: NDArray[np.int64],
) -> int:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Reference each ``t + delay`` to the last sync ``≤`` it; histogram; return # outside."""
    n_s = sync.shape[0]
    j = 0
    outside = 0
    for x in t:
        y = x + delay
        while j < n_s and sync[j] <= y:
            j += 1
        if j == 0:
            outside += 1
            continue
        d = y - sync[j - 1]
        if d < span:
            counts[d // width] += 1
        else:
            outside += 1
    return outside


def lifetime_histogram_t3(
    microtime_ps: ArrayLike, *, bin_ps: int, range_ps: int
) -> LifetimeHistogram:
    """Histogram of T3 microtimes (photon delay after the preceding sync) in ``[0, range)``.

    Parameters
    ----------
    microtime_ps : array_like of int
        Microtimes in ps (any order; one-dimensional, integer).
    bin_ps : int
        Bin width (> 0); choose a multiple of the tagger resolution to avoid ripple.
    range_ps : int
        Histogram range, a positive multiple of ``bin_ps`` (usually the sync period).

    Returns
    -------
    LifetimeHistogram

    Raises
    ------
    ParameterError
        For non-integer or multi-dimensional microtimes, or invalid bins.

    References
    ----------
    Becker (2005), ch. 3 (see module docstring).

    Examples
    --------
    >>> h = lifetime_histogram_t3([0, 5, 12, 30], bin_ps=10, range_ps=20)
    >>> h.counts.tolist(), h.n_outside
    ([2, 1], 1)
    """
    width, span = _check_bins(bin_ps, range_ps)
    arr = np.asarray(microtime_ps)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size):
        raise ParameterError(
            "microtime_ps", f"array of {arr.dtype} {arr.shape}", "must be 1-D integer ps"
        )
    micro = np.ascontiguousarray(arr, dtype=np.int64)
    counts = np.zeros(span // width, dtype=np.int64)
    outside = int(_histogram_microtimes(micro, np.int64(width), np.int64(span), counts))
    return LifetimeHistogram(
        t_ps=np.arange(0, span, width, dtype=np.int64),
        counts=counts,
        bin_ps=width,
        range_ps=span,
        n_photons=int(micro.size),
        n_outside=outside,
    )


def lifetime_histogram_t2(
    sync_ps: ArrayLike,
    t_ps: ArrayLike,
    *,
    bin_ps: int,
    range_ps: int,
    delay_ps: int = 0,
) -> LifetimeHistogram:
    """TCSPC histogram from T2 tags: each photon timed against the last sync before it.

    A photon at ``t`` (plus ``delay_ps``) is assigned the delay ``t + delay − s`` where ``s``
    is the latest sync tag with ``s ≤ t + delay``; delays in ``[0, range)`` are histogrammed.
    Photons before the first sync or further than ``range`` after their sync are counted in
    ``n_outside``.

    Parameters
    ----------
    sync_ps : array_like of int
        Sorted sync (laser) tags in ps.
    t_ps : array_like of int
        Sorted photon tags in ps.
    bin_ps, range_ps : int
        Bin width and range (a positive multiple of ``bin_ps``, usually the sync period).
    delay_ps : int, optional
        Delay added to every photon (cable offset; may be negative).

    Returns
    -------
    LifetimeHistogram

    Raises
    ------
    ParameterError
        For unsorted or non-integer tags, or invalid bins.

    References
    ----------
    Becker (2005), ch. 3 (see module docstring).

    Examples
    --------
    >>> h = lifetime_histogram_t2([0, 100], [5, 99, 100, 150, 250], bin_ps=25, range_ps=100)
    >>> h.counts.tolist(), h.n_outside
    ([2, 0, 1, 1], 1)
    """
    width, span = _check_bins(bin_ps, range_ps)
    delay = check_integer("delay_ps", delay_ps)
    sync = as_time_tags("sync_ps", sync_ps)
    t = as_time_tags("t_ps", t_ps)
    counts = np.zeros(span // width, dtype=np.int64)
    outside = int(
        _histogram_after_sync(sync, t, np.int64(delay), np.int64(width), np.int64(span), counts)
    )
    return LifetimeHistogram(
        t_ps=np.arange(0, span, width, dtype=np.int64),
        counts=counts,
        bin_ps=width,
        range_ps=span,
        n_photons=int(t.size),
        n_outside=outside,
    )
