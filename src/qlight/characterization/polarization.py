"""Polarization: visibility and dipole angle from counts behind a rotating analyser.

Model (Malus's law with finite visibility; e.g. Lohrmann et al., Rep. Prog. Phys. 80,
034502 (2017); ``qlight.physics.emitter_spectrum.polarization_transmission`` in the twin)::

    n_i ~ Poisson(t_i · Ī · (1 + V cos 2(θ_i − φ))),

``V = (I_max − I_min)/(I_max + I_min)`` the visibility and ``φ`` the in-plane dipole angle
(modulo π). Poisson maximum likelihood; ``V`` gets a 95 % profile-likelihood interval (bounded
to [0, 1]) and ``φ`` one from the profile in a window of ±π/2 around the best fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.characterization.uncertainty import (
    Estimate,
    Result,
    Undetermined,
    fit_poisson,
    profile_ci,
)
from qlight.errors import ParameterError

__all__ = ["PolarizationFit", "fit_polarization"]


@dataclass(frozen=True)
class PolarizationFit:
    """Visibility (dimensionless) and dipole angle (rad, in [0, π)) with 95 % intervals."""

    visibility: Result
    dipole_angle_rad: Result
    mean_rate_per_s: float


def fit_polarization(
    analyser_rad: ArrayLike, counts: ArrayLike, duration_s: ArrayLike, *, min_counts: int = 50
) -> PolarizationFit:
    """Poisson ML fit of ``Ī(1 + V cos 2(θ − φ))`` (module docstring).

    Parameters
    ----------
    analyser_rad : array_like
        Analyser angles (>= 3 distinct values modulo π).
    counts : array_like of int
        Counts at each angle.
    duration_s : array_like or float
        Integration time at each angle (> 0).
    min_counts : int, optional
        Fewer counts in total: not determined.
    """
    th = np.asarray(analyser_rad, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    t = np.broadcast_to(np.asarray(duration_s, dtype=np.float64), th.shape).copy()
    if th.ndim != 1 or n.shape != th.shape or not np.all(np.isfinite(th)):
        raise ParameterError("counts", n.shape, f"must match analyser_rad {th.shape}")
    if np.any(n < 0) or np.any(np.mod(n, 1) != 0):
        raise ParameterError("counts", counts, "must be non-negative integers")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ParameterError("duration_s", duration_s, "must be > 0")
    distinct = np.unique(np.round(np.mod(th, math.pi), 9)).size
    if int(n.sum()) < min_counts or distinct < 3:
        why = f"polarization not determined: {int(n.sum())} counts at {distinct} angles"
        return PolarizationFit(Undetermined(why, ""), Undetermined(why, "rad"), math.nan)
    # Linear start: n/t = a + b cos 2θ + c sin 2θ.
    design = np.column_stack([np.ones_like(th), np.cos(2 * th), np.sin(2 * th)])
    a, b, c = np.linalg.lstsq(design, n / t, rcond=None)[0]
    mean0 = max(float(a), 1e-300)
    v0 = float(min(max(math.hypot(b, c) / mean0, 0.01), 0.99))
    phi0 = 0.5 * math.atan2(c, b)
    scale = mean0

    def model(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(
            t * scale * p[0] * (1.0 + p[1] * np.cos(2.0 * (th - p[2]))), dtype=np.float64
        )

    bounds = [(1e-6, 10.0), (0.0, 1.0), (phi0 - 0.5 * math.pi, phi0 + 0.5 * math.pi)]
    fit = fit_poisson(model, n, [1.0, v0, phi0], bounds)
    if not fit.converged:
        why = "polarization fit did not converge"
        return PolarizationFit(Undetermined(why, ""), Undetermined(why, "rad"), math.nan)
    n_tot = float(n.sum())
    v = float(fit.params[1])
    v_lo, v_hi = profile_ci(fit, 1, scale=max(1.0 / math.sqrt(n_tot), 1e-4))
    phi = float(fit.params[2])
    p_lo, p_hi = profile_ci(fit, 2, scale=max(1.0 / (max(v, 0.05) * math.sqrt(n_tot)), 1e-4))
    vis = Estimate(v, (v_lo, v_hi), "")
    ang: Result
    if p_hi - p_lo >= math.pi * 0.999:
        ang = Undetermined("dipole angle not determined: no significant polarization", "rad")
    else:
        shift = math.floor(phi / math.pi) * math.pi  # report φ in [0, π)
        ang = Estimate(phi - shift, (p_lo - shift, p_hi - shift), "rad")
    return PolarizationFit(vis, ang, float(fit.params[0]) * scale)
