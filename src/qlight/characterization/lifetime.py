"""Excited-state lifetime: mono/bi-exponential TCSPC fit with IRF reconvolution.

Model of the histogram of photon delays after the laser pulse (Becker, *Advanced
Time-Correlated Single Photon Counting Techniques*, Springer 2005, ch. 5; O'Connor &
Phillips, *Time-correlated Single Photon Counting*, 1984, ch. 6)::

    μ(t) = b + Σ_j A_j · (IRF ⊛ Σ_{m≥0} e^{−(t + mT − t0)/τ_j} H(t + mT − t0))(t),

a Gaussian IRF of width σ centred at ``t0`` (both fitted: reconvolution, not tail fitting),
decays of earlier pulses wrapped in from the repetition period ``T`` (geometric sum
``e^{−T/τ}/(1 − e^{−T/τ})``), and a flat background ``b``. The Gaussian–exponential
convolution is the exponentially modified Gaussian ``½ e^{σ²/2τ² − u/τ} erfc((σ/τ − u/σ)/√2)``
(``u = t − t0``), written with ``erfcx`` for stability. Counts per bin are Poisson; the
lifetime gets a 95 % profile-likelihood interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from qlight.characterization.uncertainty import (
    Estimate,
    Result,
    Undetermined,
    fit_poisson,
    fits_well,
    hessian_se,
    profile_ci,
)
from qlight.errors import ParameterError
from qlight.timetags.lifetime import LifetimeHistogram

__all__ = ["LifetimeFit", "decay_shape", "fit_lifetime"]


def two_components(
    params: NDArray[np.float64], se: NDArray[np.float64], method: str
) -> tuple[list[Result], Result]:
    """Wald intervals of the two lifetimes (τ₁, τ₂, f₁ = ``params``, standard errors ``se``
    from ``method``) and the amplitude-weighted mean f₁τ₁ + (1 − f₁)τ₂, reported without an
    interval (a derived mean has none here)."""
    taus: list[Result] = []
    for v, e in ((float(params[0]), float(se[0])), (float(params[1]), float(se[1]))):
        if math.isfinite(e):
            taus.append(Estimate(v, (v - 1.96 * e, v + 1.96 * e), "ns", f"{method} (Wald)"))
        else:
            taus.append(Undetermined(f"component {v:.4g} ns: no interval ({method})", "ns"))
    f1 = float(params[2])
    mean = f1 * float(params[0]) + (1.0 - f1) * float(params[1])
    life = Undetermined(
        f"amplitude-weighted lifetime {mean:.4g} ns: no interval for a derived mean", "ns"
    )
    return taus, life


def decay_shape(
    t_ns: NDArray[np.float64], tau_ns: float, t0_ns: float, sigma_ns: float, period_ns: float
) -> NDArray[np.float64]:
    """Periodic exponential decay convolved with a Gaussian IRF (module docstring)."""
    u = np.asarray(t_ns, dtype=np.float64) - t0_ns
    s = max(sigma_ns, 1e-9)

    def emg(v: NDArray[np.float64]) -> NDArray[np.float64]:
        x = (s / tau_ns - v / s) / math.sqrt(2.0)
        direct = np.exp(np.minimum(0.5 * (s / tau_ns) ** 2 - v / tau_ns, 700.0))
        return np.asarray(
            np.where(
                x >= 0.0,
                0.5 * np.exp(-0.5 * (v / s) ** 2) * special.erfcx(np.abs(x)),
                0.5 * direct * special.erfc(x),
            ),
            dtype=np.float64,
        )

    q = math.exp(-period_ns / tau_ns)
    # Earlier pulses (m >= 1) are pure exponentials here; the next pulse's rise (at t0 + T)
    # reaches the end of the range when the IRF straddles the sync.
    wrap = np.exp(np.minimum(0.5 * (s / tau_ns) ** 2 - u / tau_ns, 700.0)) * q / (1.0 - q)
    emg_now = emg(u) + emg(u - period_ns)
    return np.asarray(emg_now + wrap, dtype=np.float64)


@dataclass(frozen=True)
class LifetimeFit:
    """Result of :func:`fit_lifetime`.

    ``lifetime_ns`` is the (amplitude-weighted, for two components) decay time; for the
    bi-exponential model ``tau_ns`` holds both components. ``curve`` is the fitted counts per
    bin.
    """

    lifetime_ns: Result
    tau_ns: tuple[Result, ...]
    irf_sigma_ns: float
    t0_ns: float
    background_per_bin: float
    n_photons: int
    curve: NDArray[np.float64]
    deviance: float
    dof: int


def _undetermined(why: str) -> LifetimeFit:
    u = Undetermined(why, "ns")
    return LifetimeFit(u, (u,), math.nan, math.nan, math.nan, 0, np.zeros(0), math.nan, 0)


def fit_lifetime(
    hist: LifetimeHistogram,
    *,
    period_ps: float | None = None,
    components: int = 1,
    min_photons: int = 200,
    irf: NDArray[np.float64] | None = None,
) -> LifetimeFit:
    """Poisson maximum-likelihood reconvolution fit of a TCSPC histogram.

    Parameters
    ----------
    hist : LifetimeHistogram
        Delays after the sync (``qlight.timetags.lifetime``).
    period_ps : float, optional
        Laser period (default: the histogram range).
    components : {1, 2}
        Mono- or bi-exponential decay.
    min_photons : int, optional
        Fewer histogrammed photons: not determined.
    irf : ndarray, optional
        A measured IRF histogram on the same bins: reconvolution with it and a fitted shift
        instead of the Gaussian IRF
        (:func:`qlight.characterization.lifetime_irf.fit_lifetime_measured_irf`; the
        histogram range is then taken as the period).
    """
    if irf is not None:
        from qlight.characterization.lifetime_irf import fit_lifetime_measured_irf

        return fit_lifetime_measured_irf(hist, irf, components=components, min_photons=min_photons)
    if components not in (1, 2):
        raise ParameterError("components", components, "must be 1 or 2")
    n_ph = int(hist.counts.sum())
    if n_ph < min_photons:
        return _undetermined(f"lifetime not determined: {n_ph} photons (need >= {min_photons})")
    period_ns = (float(hist.range_ps) if period_ps is None else float(period_ps)) * 1e-3
    if period_ns <= 0.0:
        raise ParameterError("period_ps", period_ps, "must be > 0")
    t = (hist.t_ps.astype(np.float64) + 0.5 * hist.bin_ps) * 1e-3
    n = hist.counts.astype(np.float64)
    range_ns = hist.range_ps * 1e-3
    peak_ns = float(t[int(np.argmax(n))])
    bg0 = float(max(np.percentile(n, 5), 0.1))

    def shape(tau: float, t0: float, sig: float) -> NDArray[np.float64]:
        v = decay_shape(t, tau, t0, sig, period_ns)
        return np.asarray(v / max(float(v.sum()), 1e-300), dtype=np.float64)

    # Parameters: (signal photons / n_ph, t0, σ, b / bg0, τ1[, τ2, fraction1]).
    def model(p: NDArray[np.float64]) -> NDArray[np.float64]:
        amp, t0, sig, b = float(p[0]), float(p[1]), float(p[2]), float(p[3])
        if components == 1:
            sh = shape(float(p[4]), t0, sig)
        else:
            f1 = float(p[6])
            sh = f1 * shape(float(p[4]), t0, sig) + (1.0 - f1) * shape(float(p[5]), t0, sig)
        return np.asarray(amp * n_ph * sh + b * bg0, dtype=np.float64)

    bounds = [(0.0, 2.0), (-0.5 * range_ns, range_ns), (1e-3, 0.2 * range_ns),
              (0.0, 10.0 * n_ph / bg0 / n.size + 10.0), (1e-3, 2.0 * range_ns)]  # fmt: skip
    tail = n[t > peak_ns]
    tau0 = max(float(np.sum((t[t > peak_ns] - peak_ns) * tail) / max(tail.sum(), 1.0)), 0.05)
    if components == 2:
        bounds += [(1e-3, 2.0 * range_ns), (0.0, 1.0)]
    best = None
    for sig0 in (0.1, 0.3, 0.03):  # IRF widths of SPADs to SNSPDs; keep the best likelihood
        x0 = [0.9, peak_ns - sig0, sig0, 1.0, min(tau0, range_ns)]
        if components == 2:
            x0 = [*x0[:4], 0.5 * tau0, 2.0 * tau0, 0.5]
        f = fit_poisson(model, n, x0, bounds)
        if f.converged and (best is None or f.nll < best.nll):
            best = f
        if best is not None and fits_well(best.deviance, best.n_bins):
            break  # deviance within 5 σ of its χ² mean: a good fit, no other start needed
    if best is None:
        return _undetermined("lifetime fit did not converge")
    p = best.params
    taus: list[Result] = []
    if components == 1:
        tau = float(p[4])
        lo, hi = profile_ci(best, 4, scale=max(tau / math.sqrt(n_ph), 1e-4))
        taus.append(Estimate(tau, (lo, hi), "ns"))
        life: Result = taus[0]
    else:
        taus, life = two_components(p[4:7], hessian_se(best)[4:7], "Hessian")
    return LifetimeFit(
        lifetime_ns=life,
        tau_ns=tuple(taus),
        irf_sigma_ns=float(p[2]),
        t0_ns=float(p[1]),
        background_per_bin=float(p[3]) * bg0,
        n_photons=n_ph,
        curve=model(p),
        deviance=best.deviance,
        dof=best.n_bins - len(p),
    )
