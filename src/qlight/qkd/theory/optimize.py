"""Optimisers of the free protocol parameters and the maximum-distance solver.

All optimisers maximise :attr:`KeyRateResult.unclipped_rate` (the key-rate formula before
clipping at zero) so that they also move in the right direction where no key exists yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar

from qlight.errors import ParameterError
from qlight.qkd.theory.channel import DetectorModel
from qlight.qkd.theory.finite_key import (
    FiniteKeySettings,
    ThreeIntensityParams,
    finite_key_decoy_rate,
)
from qlight.qkd.theory.result import KeyRateResult

__all__ = ["max_distance_km", "optimize_scalar", "optimize_three_intensity"]


def optimize_scalar(
    rate: Callable[[float], KeyRateResult],
    lower: float,
    upper: float,
    *,
    n_grid: int = 24,
    log: bool = True,
) -> tuple[float, KeyRateResult]:
    """Maximise ``rate(x).unclipped_rate`` over ``x`` in ``[lower, upper]``.

    A grid of ``n_grid`` points (log-spaced if ``log``) finds the best bracket, then
    bounded Brent refines it to ~1e-9 relative; returns ``(x_best, rate(x_best))``.
    Used for μ (signal intensity) and for the key-basis probability p_X.
    """
    if not 0.0 < lower < upper:
        raise ParameterError("bounds", (lower, upper), "must satisfy 0 < lower < upper")
    grid = np.geomspace(lower, upper, n_grid) if log else np.linspace(lower, upper, n_grid)
    values = [rate(float(x)).unclipped_rate for x in grid]
    k = int(np.argmax(values))
    lo, hi = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, n_grid - 1)])
    res = minimize_scalar(
        lambda x: -rate(float(x)).unclipped_rate,
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-9 * hi},
    )
    best = float(res.x) if -float(res.fun) >= values[k] else float(grid[k])
    return best, rate(best)


_STARTS = (
    (0.9, 0.5, 0.3, 0.7, 0.7),
    (0.7, 0.4, 0.4, 0.5, 0.5),
    (0.97, 0.45, 0.15, 0.85, 0.7),
)


def optimize_three_intensity(
    transmittance: float,
    detector: DetectorModel,
    settings: FiniteKeySettings | None,
    *,
    f_ec: float = 1.16,
    mu1: float | None = None,
    mu2: float | None = None,
    mu3: float = 2e-4,
    start: ThreeIntensityParams | None = None,
    background_yield: float = 0.0,
) -> tuple[ThreeIntensityParams, KeyRateResult]:
    """Optimise intensities and probabilities of the LCWXZ three-intensity protocol.

    Free parameters: p_X, μ1 (unless fixed), the position ``r`` of μ2 in
    ``(μ3, μ1 − μ3)`` (unless μ2 is fixed), p1 and the share ``p2/(1 − p1)``, all in boxes;
    L-BFGS-B (numerical gradients) from three fixed starting points plus ``start``, the best
    result kept. μ3 defaults to 2e-4, the practical "vacuum" of Lim et al., PRA 89, 022307
    (2014), Sec. IV.

    Returns
    -------
    (ThreeIntensityParams, KeyRateResult)
        The best parameters and their rate.
    """
    if mu1 is not None and mu2 is not None:
        ThreeIntensityParams(mu1, mu2, mu3, 0.5, 0.25, 0.5)  # validates the fixed intensities

    def unpack(x: NDArray[np.float64]) -> ThreeIntensityParams:
        p_x, m1, r, p1, share = (float(v) for v in x)
        m1 = mu1 if mu1 is not None else m1
        m2 = mu2 if mu2 is not None else mu3 + r * (m1 - 2.0 * mu3)
        return ThreeIntensityParams(m1, m2, mu3, p1, (1.0 - p1) * share, p_x)

    def rate(x: NDArray[np.float64]) -> KeyRateResult:
        return finite_key_decoy_rate(
            transmittance,
            detector,
            settings,
            unpack(x),
            f_ec=f_ec,
            background_yield=background_yield,
        )

    def objective(x: NDArray[np.float64]) -> float:
        try:
            return -rate(x).unclipped_rate * 1e4  # scaled so that the tolerances matter
        except ParameterError:
            return 1e3

    lo_mu1 = 3.0 * mu3 + 1e-9 if mu2 is None else mu2 + mu3 + 1e-9
    bounds = [(0.01, 0.9999), (lo_mu1, 1.0), (1e-3, 0.999), (0.01, 0.999), (0.01, 0.999)]
    starts = [np.array(x0, dtype=np.float64) for x0 in _STARTS]
    for x0 in starts:
        x0[1] = min(max(x0[1], lo_mu1), 1.0)
    if start is not None:
        r0 = (start.mu2 - mu3) / max(start.mu1 - 2.0 * mu3, 1e-12)
        share = start.p2 / (1.0 - start.p1)
        starts.insert(0, np.array([start.p_x, start.mu1, r0, start.p1, share], dtype=np.float64))
        starts[0] = np.clip(starts[0], [b[0] for b in bounds], [b[1] for b in bounds])
    best_x, best_f = starts[0], math.inf
    for x0 in starts:
        res = minimize(objective, x0, method="L-BFGS-B", bounds=bounds)
        if float(res.fun) < best_f:
            best_x, best_f = np.asarray(res.x, dtype=np.float64), float(res.fun)
    params = unpack(best_x)
    return params, rate(best_x)


def max_distance_km(
    rate_at_km: Callable[[float], float],
    *,
    lower_km: float = 0.0,
    upper_km: float = 1000.0,
    tol_km: float = 1e-3,
) -> float:
    """Largest distance at which ``rate_at_km`` (an unclipped, decreasing rate) is > 0.

    Bisection on the sign between ``lower_km`` and ``upper_km`` to ``tol_km``. Returns
    ``lower_km`` when there is no key even there and ``upper_km`` when there still is one
    at the far end (a lower bound then).
    """
    if not 0.0 <= lower_km < upper_km:
        raise ParameterError("upper_km", upper_km, "must exceed lower_km >= 0")
    if rate_at_km(lower_km) <= 0.0:
        return lower_km
    if rate_at_km(upper_km) > 0.0:
        return upper_km
    lo, hi = lower_km, upper_km
    while hi - lo > tol_km:
        mid = 0.5 * (lo + hi)
        if rate_at_km(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
