"""Saturation: ``I∞``, ``P_sat`` and the linear background from a laser-power series.

Model (``REFERENCES.md``; three-level emitter, e.g. Aharonovich et al., Rep. Prog. Phys. 74,
076501 (2011), eq. 2)::

    I(P) = I∞ · P/(P + P_sat) + c · P,

fitted to the counts ``n_i ~ Poisson(I(P_i) · t_i)`` of each power step by maximum likelihood,
with 95 % profile-likelihood intervals for ``I∞`` and ``P_sat`` (the two are strongly
correlated; the profile follows that correlation where a Wald interval would not).

:func:`measure_saturation` is the plan that records the series on any backend through the
``Laser`` and ``TimeTagger`` protocols (the twin or real hardware, never the twin's truth).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive
from qlight.characterization.uncertainty import (
    Estimate,
    Result,
    Undetermined,
    fit_poisson,
    profile_ci,
)
from qlight.errors import ParameterError
from qlight.instruments.protocols import Laser, TimeTagger

__all__ = ["SaturationFit", "SaturationSeries", "fit_saturation", "measure_saturation"]


@dataclass(frozen=True)
class SaturationSeries:
    """Counts (all detector channels summed) at each laser power, each integrated for
    ``duration_s``."""

    power_w: NDArray[np.float64]
    counts: NDArray[np.int64]
    duration_s: NDArray[np.float64]

    @property
    def rate_per_s(self) -> NDArray[np.float64]:
        """Measured count rates."""
        return np.asarray(self.counts / self.duration_s, dtype=np.float64)


@dataclass(frozen=True)
class SaturationFit:
    """``I∞`` (1/s), ``P_sat`` (W) and background slope ``c`` (1/s/W) with 95 % intervals."""

    i_inf_per_s: Result
    p_sat_w: Result
    background_per_s_per_w: Result
    deviance: float
    dof: int


def measure_saturation(
    laser: Laser, tagger: TimeTagger, powers_w: Sequence[float], duration_s: float
) -> SaturationSeries:
    """Step the laser through ``powers_w`` and read the count rates at each step.

    The laser is switched on and left at the last power. Works on any backend that satisfies
    the protocols.
    """
    dur = check_positive("duration_s", duration_s)
    if len(powers_w) < 4:
        raise ParameterError("powers_w", powers_w, "needs >= 4 powers for a 3-parameter fit")
    laser.on()
    counts = []
    for p in powers_w:
        laser.set_power(float(p))
        counts.append(sum(tagger.count_rates(dur).counts))
    return SaturationSeries(
        np.asarray(powers_w, dtype=np.float64),
        np.asarray(counts, dtype=np.int64),
        np.full(len(powers_w), dur),
    )


def _series(power_w: ArrayLike, counts: ArrayLike, duration_s: ArrayLike) -> SaturationSeries:
    p = np.asarray(power_w, dtype=np.float64)
    n = np.asarray(counts)
    d = np.broadcast_to(np.asarray(duration_s, dtype=np.float64), p.shape).copy()
    if p.ndim != 1 or n.shape != p.shape:
        raise ParameterError("counts", n.shape, f"must match power_w {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0.0):
        raise ParameterError("power_w", power_w, "must be finite and > 0")
    if np.any(n < 0) or not np.all(np.equal(np.mod(n, 1), 0)):
        raise ParameterError("counts", counts, "must be non-negative integers")
    if not np.all(np.isfinite(d)) or np.any(d <= 0.0):
        raise ParameterError("duration_s", duration_s, "must be > 0")
    return SaturationSeries(p, n.astype(np.int64), d)


def fit_saturation(
    power_w: ArrayLike, counts: ArrayLike, duration_s: ArrayLike, *, min_counts: int = 100
) -> SaturationFit:
    """Poisson maximum-likelihood fit of ``I(P) = I∞ P/(P + P_sat) + c P``.

    Parameters
    ----------
    power_w : array_like
        Laser powers (> 0), at least four distinct ones.
    counts : array_like of int
        Counts at each power.
    duration_s : array_like or float
        Integration time of each step.
    min_counts : int, optional
        Fewer counts in total: not determined.

    Returns
    -------
    SaturationFit
        Profile-likelihood intervals; :class:`Undetermined` when the data do not constrain
        the saturation (too few counts, powers all far below ``P_sat``: unbounded interval).
    """
    s = _series(power_w, counts, duration_s)
    unit = ("1/s", "W", "1/s/W")
    if int(s.counts.sum()) < min_counts or np.unique(s.power_w).size < 4:
        why = f"saturation not determined: {int(s.counts.sum())} counts at " + (
            f"{np.unique(s.power_w).size} powers (need >= {min_counts} counts, >= 4 powers)"
        )
        u = [Undetermined(why, x) for x in unit]
        return SaturationFit(u[0], u[1], u[2], math.nan, 0)
    # Work in units of the largest power and rate so every parameter is O(1).
    p_ref = float(s.power_w.max())
    r_ref = float(max(s.rate_per_s.max(), 1e-300))
    x = s.power_w / p_ref
    expo = s.duration_s * r_ref

    def model(q: NDArray[np.float64]) -> NDArray[np.float64]:
        i_inf, p_sat, c = q
        return np.asarray(expo * (i_inf * x / (x + p_sat) + c * x), dtype=np.float64)

    bounds = [(0.0, 1e3), (1e-4, 1e3), (0.0, 1e2)]
    best = None
    for ps0 in (0.3, 1.0, 3.0):
        f = fit_poisson(model, s.counts.astype(np.float64), [1.0 + ps0, ps0, 0.01], bounds)
        if f.converged and (best is None or f.nll < best.nll):
            best = f
    if best is None:
        u = [Undetermined("saturation fit did not converge", x) for x in unit]
        return SaturationFit(u[0], u[1], u[2], math.nan, 0)
    i_inf, p_sat, c = (float(v) for v in best.params)
    n_tot = float(s.counts.sum())
    i_lo, i_hi = profile_ci(best, 0, scale=max(i_inf / math.sqrt(n_tot), 1e-6))
    p_lo, p_hi = profile_ci(best, 1, scale=max(p_sat / math.sqrt(n_tot), 1e-6))
    c_lo, c_hi = profile_ci(best, 2, scale=max(0.05 * (c + 0.01), 1e-6))
    res: list[Result] = []
    for val, lo, hi, (_lo_b, hi_b), ref, un in (
        (i_inf, i_lo, i_hi, bounds[0], r_ref, unit[0]),
        (p_sat, p_lo, p_hi, bounds[1], p_ref, unit[1]),
        (c, c_lo, c_hi, bounds[2], r_ref / p_ref, unit[2]),
    ):
        if hi >= hi_b:
            why = f"not determined: upper 95 % bound unconstrained ({un})"
            res.append(Undetermined(why, un))
        else:
            res.append(Estimate(val * ref, (lo * ref, hi * ref), un))
    return SaturationFit(res[0], res[1], res[2], best.deviance, best.n_bins - 3)
