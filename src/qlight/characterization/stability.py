"""Stability of the count rate: overlapping Allan deviation.

For rates ``y_k`` averaged over bins of ``τ0`` and ``n = m·τ0``, the overlapping Allan
variance is (Riley, *Handbook of Frequency Stability Analysis*, NIST SP 1065 (2008),
eq. 11)::

    σ²(mτ0) = 1/(2 m² (M − 2m + 1)) · Σ_{j=0}^{M−2m} (Σ_{i=j}^{j+m−1} (y_{i+m} − y_i))²,

computed with cumulative sums in O(M) per averaging time. We report the *relative* Allan
deviation ``σ/ȳ``; for a shot-noise-limited (Poisson, non-blinking) source it falls as
``1/√(ȳ τ)`` (white noise, slope −½), while blinking and drift make it level off or rise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive
from qlight.errors import ParameterError

__all__ = ["AllanDeviation", "allan_deviation", "octave_factors"]


@dataclass(frozen=True)
class AllanDeviation:
    """Relative overlapping Allan deviation of the count rate.

    Attributes
    ----------
    tau_s : ndarray
        Averaging times ``m·τ0``.
    adev : ndarray
        ``σ_y(τ)/ȳ`` (dimensionless).
    shot_noise : ndarray
        The Poisson (white-noise) expectation ``1/√(ȳ τ)`` at the same τ.
    n_terms : ndarray of int
        Number of overlapping differences behind each point (``M − 2m + 1``).
    mean_rate_per_s : float
        ``ȳ``.
    """

    tau_s: NDArray[np.float64]
    adev: NDArray[np.float64]
    shot_noise: NDArray[np.float64]
    n_terms: NDArray[np.int64]
    mean_rate_per_s: float


def octave_factors(n_bins: int) -> NDArray[np.int64]:
    """Averaging factors ``1, 2, 4, …`` up to ``n_bins // 4`` (at least two differences)."""
    m = [1]
    while 2 * m[-1] <= n_bins // 4:
        m.append(2 * m[-1])
    return np.asarray(m, dtype=np.int64)


def allan_deviation(
    counts: ArrayLike, bin_s: float, *, factors: ArrayLike | None = None
) -> AllanDeviation:
    """Overlapping relative Allan deviation of a binned count trace (module docstring).

    Parameters
    ----------
    counts : array_like
        Counts per bin (e.g. ``qlight.timetags.trace.intensity_trace(...).counts``), >= 4 bins.
    bin_s : float
        Bin width ``τ0`` (s).
    factors : array_like of int, optional
        Averaging factors ``m`` (default :func:`octave_factors`), each ``<= len(counts)//2``.
    """
    tau0 = check_positive("bin_s", bin_s)
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 4 or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ParameterError("counts", c.shape, "must be >= 4 finite non-negative bins")
    y = c / tau0
    mean = float(y.mean())
    if mean <= 0.0:
        raise ParameterError("counts", "all zero", "need a non-zero count rate")
    ms = octave_factors(c.size) if factors is None else np.asarray(factors, dtype=np.int64)
    if ms.ndim != 1 or np.any(ms < 1) or np.any(2 * ms > c.size):
        raise ParameterError("factors", factors, f"must be in [1, {c.size // 2}]")
    cs = np.concatenate([[0.0], np.cumsum(y)])
    adev = np.empty(ms.size)
    n_terms = np.empty(ms.size, dtype=np.int64)
    for k, m in enumerate(ms):
        m = int(m)
        j = np.arange(c.size - 2 * m + 1)
        # Σ_{i=j}^{j+m−1} (y_{i+m} − y_i) = S(j+2m) − 2 S(j+m) + S(j)
        d = cs[j + 2 * m] - 2.0 * cs[j + m] + cs[j]
        adev[k] = np.sqrt(np.sum(d * d) / (2.0 * m * m * j.size)) / mean
        n_terms[k] = j.size
    tau = ms.astype(np.float64) * tau0
    return AllanDeviation(tau, adev, 1.0 / np.sqrt(mean * tau), n_terms, mean)
