"""Intensity time trace and photon-counting histogram (PCH) of one or more channels.

* :func:`intensity_trace` — photons per time bin (blinking, bleaching, drift);
* :func:`photon_counting_histogram` — how often each count value occurs in a trace.

References
----------
Photon-counting histogram: Y. Chen, J. D. Müller, P. T. C. So, E. Gratton, Biophys. J. 77,
553 (1999), eq. 1 (the histogram of photon counts per sampling time). Half-open integer
bins: ``REFERENCES.md`` ("Time tags").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer

__all__ = ["IntensityTrace", "intensity_trace", "photon_counting_histogram"]


@dataclass(frozen=True)
class IntensityTrace:
    """Photons per bin.

    Attributes
    ----------
    t_ps : numpy.ndarray of int64
        Left bin edges ``start, start + Δ, …`` (only whole bins).
    counts : numpy.ndarray of int64
        Photons per bin, all channels together.
    bin_ps : int
        Bin width ``Δ``.
    n_outside : int
        Tags outside the whole bins ``[start, start + n·Δ)``.
    """

    t_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    bin_ps: int
    n_outside: int

    @property
    def rate_per_s(self) -> NDArray[np.float64]:
        """Count rate per bin in photons per second."""
        return self.counts / (self.bin_ps * 1e-12)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _bin_tags(
    t: NDArray[np.int64], start: np.int64, width: np.int64, counts: NDArray[np.int64]
) -> int:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Add each tag to ``counts[(t − start) // width]`` when in range; return # outside."""
    n = counts.shape[0]
    outside = 0
    for x in t:
        d = x - start
        if d < 0:
            outside += 1
            continue
        k = d // width
        if k < n:
            counts[k] += 1
        else:
            outside += 1
    return outside


def intensity_trace(
    channels: Sequence[ArrayLike],
    *,
    bin_ps: int,
    start_ps: int = 0,
    stop_ps: int,
) -> IntensityTrace:
    """Photons per bin ``[start + k·Δ, start + (k+1)·Δ)`` summed over ``channels``.

    Only whole bins are made: ``n = (stop − start) // Δ``; tags in a last partial bin, or
    outside ``[start, stop)``, are counted in ``n_outside`` so that no bin is biased low.

    Parameters
    ----------
    channels : sequence of array_like of int
        Sorted tags in ps of each channel to add up (at least one).
    bin_ps : int
        Bin width ``Δ`` (> 0).
    start_ps, stop_ps : int
        Time span (``stop − start ≥ Δ``), usually the acquisition ``[0, T)``.

    Returns
    -------
    IntensityTrace

    Raises
    ------
    ParameterError
        For invalid tags, a non-positive bin or a span shorter than one bin.

    Examples
    --------
    >>> tr = intensity_trace([[0, 5, 12], [19, 25]], bin_ps=10, stop_ps=25)
    >>> tr.counts.tolist(), tr.n_outside
    ([2, 2], 1)
    """
    width = check_integer("bin_ps", bin_ps)
    if width <= 0:
        raise ParameterError("bin_ps", bin_ps, "must be > 0")
    start = check_integer("start_ps", start_ps)
    stop = check_integer("stop_ps", stop_ps)
    if stop - start < width:
        raise ParameterError("stop_ps", stop_ps, f"must be >= start_ps + bin_ps = {start + width}")
    if len(channels) == 0:
        raise ParameterError("channels", "[]", "must hold at least one channel")
    n_bins = (stop - start) // width
    counts = np.zeros(n_bins, dtype=np.int64)
    outside = 0
    for i, ch in enumerate(channels):
        t = as_time_tags(f"channels[{i}]", ch)
        outside += int(_bin_tags(t, np.int64(start), np.int64(width), counts))
    return IntensityTrace(
        t_ps=start + width * np.arange(n_bins, dtype=np.int64),
        counts=counts,
        bin_ps=width,
        n_outside=outside,
    )


def photon_counting_histogram(counts: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Photon-counting histogram: the number of bins holding ``k`` photons, ``k = 0 … max``.

    Parameters
    ----------
    counts : array_like of int
        Photons per bin (for example :attr:`IntensityTrace.counts`), all ``≥ 0``.

    Returns
    -------
    k : numpy.ndarray of int64
        Count values ``0 … max(counts)``.
    occurrences : numpy.ndarray of int64
        Number of bins with exactly ``k`` photons (sums to the number of bins).

    Raises
    ------
    ParameterError
        For negative, non-integer or multi-dimensional counts.

    References
    ----------
    Chen et al., Biophys. J. 77, 553 (1999), eq. 1.

    Examples
    --------
    >>> photon_counting_histogram([0, 2, 2, 1])[1].tolist()
    [1, 1, 2]
    """
    arr = np.asarray(counts)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ParameterError("counts", f"array of {arr.dtype} {arr.shape}", "must be 1-D integers")
    c = arr.astype(np.int64)
    if c.size and int(c.min()) < 0:
        raise ParameterError("counts", int(c.min()), "must be >= 0")
    occ = np.bincount(c, minlength=1).astype(np.int64)
    return np.arange(occ.size, dtype=np.int64), occ
