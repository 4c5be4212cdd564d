"""Lifetime reconvolution with a measured instrument response (IRF histogram).

Model of the TCSPC histogram, bins ``k = 0 … K−1`` of width ``Δ`` (Becker, *Advanced
Time-Correlated Single Photon Counting Techniques*, Springer 2005, §5.3 "fitting with a
measured IRF"; O'Connor & Phillips 1984, ch. 6)::

    μ_k = b + A · Σ_i IRF_s[i] · D[(k − i) mod K],

* ``D`` — the periodic exponential integrated over each bin, the decays of all earlier
  pulses wrapped in (period ``T = KΔ``)::

      D_k ∝ e^{−kΔ/τ}      (normalised to Σ D = 1; bi-exponential: f·D(τ1) + (1 − f)·D(τ2));

* ``IRF_s`` — the measured IRF, its flat floor (5th percentile) removed, normalised, and
  shifted by ``s`` bins (fitted: the "IRF shift" of reconvolution software, accounting for
  the colour/ count-rate dependent delay between IRF and decay measurements); fractional
  shifts by linear interpolation between neighbouring bins;
* ``b`` a flat background.

The convolution is circular (FFT), which **assumes the histogram range is the laser period**
(``qlight characterize`` makes it one whole number of bins below the period; the residual,
less than one bin, is neglected). Counts are Poisson (ML by deviance least squares,
:mod:`qlight.characterization.devfit`); τ gets a 95 % profile-likelihood interval (mono) or
Gauss–Newton (Wald) intervals (bi-exponential components).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.characterization.devfit import DevianceFit, fit_deviance, profile_interval
from qlight.characterization.lifetime import LifetimeFit, two_components
from qlight.characterization.uncertainty import Estimate, Result, Undetermined, fits_well
from qlight.errors import ParameterError
from qlight.timetags.lifetime import LifetimeHistogram

__all__ = ["fit_lifetime_measured_irf", "prepare_irf", "reconvolve"]


def prepare_irf(irf_counts: ArrayLike, n_bins: int) -> NDArray[np.float64]:
    """Floor-subtracted, normalised IRF of ``n_bins`` bins (validated)."""
    irf = np.asarray(irf_counts, dtype=np.float64)
    if irf.ndim != 1 or irf.size != n_bins:
        raise ParameterError("irf", irf.shape, f"must have the histogram's {n_bins} bins")
    if not np.all(np.isfinite(irf)) or np.any(irf < 0.0):
        raise ParameterError("irf", "…", "must be finite and >= 0")
    clean = np.maximum(irf - float(np.percentile(irf, 5)), 0.0)
    total = float(clean.sum())
    if total <= 0.0:
        raise ParameterError("irf", "…", "is flat (no response above its floor)")
    return np.asarray(clean / total, dtype=np.float64)


def _decay(n_bins: int, bin_ns: float, tau_ns: float) -> NDArray[np.float64]:
    k = np.arange(n_bins, dtype=np.float64)
    d = np.exp(-k * bin_ns / tau_ns)
    return np.asarray(d / d.sum(), dtype=np.float64)


def reconvolve(
    irf: NDArray[np.float64], shift_bins: float, decay: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Circular convolution of the IRF shifted by ``shift_bins`` (linear interpolation) with
    a normalised decay (module docstring)."""
    i = math.floor(shift_bins)
    f = shift_bins - i
    shifted = (1.0 - f) * np.roll(irf, i) + f * np.roll(irf, i + 1)
    out = np.fft.irfft(np.fft.rfft(shifted) * np.fft.rfft(decay), n=irf.size)
    return np.asarray(np.maximum(out, 0.0), dtype=np.float64)


def _undetermined(why: str) -> LifetimeFit:
    u = Undetermined(why, "ns")
    return LifetimeFit(u, (u,), math.nan, math.nan, math.nan, 0, np.zeros(0), math.nan, 0)


def fit_lifetime_measured_irf(
    hist: LifetimeHistogram,
    irf_counts: ArrayLike,
    *,
    components: int = 1,
    min_photons: int = 200,
) -> LifetimeFit:
    """Poisson ML reconvolution fit with a measured IRF on the same bins (module docstring).

    Parameters
    ----------
    hist : LifetimeHistogram
        Delays after the sync; its range is taken as the laser period.
    irf_counts : array_like
        The IRF histogram on the same bins (e.g. scattered laser light).
    components : {1, 2}
        Mono- or bi-exponential decay.
    min_photons : int, optional
        Fewer histogrammed photons: not determined.

    Returns
    -------
    LifetimeFit
        ``irf_sigma_ns`` is NaN (no Gaussian width); ``t0_ns`` holds the fitted IRF shift.
    """
    if components not in (1, 2):
        raise ParameterError("components", components, "must be 1 or 2")
    n = hist.counts.astype(np.float64)
    irf = prepare_irf(irf_counts, n.size)
    n_ph = int(n.sum())
    if n_ph < min_photons:
        return _undetermined(f"lifetime not determined: {n_ph} photons (need >= {min_photons})")
    bin_ns = hist.bin_ps * 1e-3
    range_ns = n.size * bin_ns
    bg0 = float(max(np.percentile(n, 5), 0.1))
    peak_d, peak_i = int(np.argmax(n)), int(np.argmax(irf))
    shift0 = float((peak_d - peak_i + n.size // 2) % n.size - n.size // 2)
    tail = n[peak_d:]
    tau0 = max(float(np.sum(np.arange(tail.size) * tail) / max(tail.sum(), 1.0)) * bin_ns,
               2.0 * bin_ns)  # fmt: skip
    tau0 = min(tau0, 0.5 * range_ns)

    def model(p: NDArray[np.float64]) -> NDArray[np.float64]:
        amp, shift, b = float(p[0]), float(p[1]), float(p[2])
        if components == 1:
            d = _decay(n.size, bin_ns, float(p[3]))
        else:
            f1 = float(p[5])
            d = f1 * _decay(n.size, bin_ns, float(p[3])) + (1.0 - f1) * _decay(
                n.size, bin_ns, float(p[4])
            )
        return np.asarray(amp * n_ph * reconvolve(irf, shift, d) + b * bg0, dtype=np.float64)

    bounds = [(0.0, 2.0), (shift0 - 20.0, shift0 + 20.0), (0.0, 10.0 * n_ph / bg0 / n.size + 10.0),
              (0.05 * bin_ns, 2.0 * range_ns)]  # fmt: skip
    if components == 2:
        bounds += [(0.05 * bin_ns, 2.0 * range_ns), (0.0, 1.0)]
    best: DevianceFit | None = None
    for s0 in (shift0, shift0 - 2.0, shift0 + 2.0):
        x0 = [0.9, s0, 1.0, tau0] if components == 1 else [0.9, s0, 1.0, 0.5 * tau0, 2 * tau0, 0.5]
        f = fit_deviance(model, n, x0, bounds)
        if f.converged and (best is None or f.deviance < best.deviance):
            best = f
        if best is not None and fits_well(best.deviance, best.n_bins):
            break
    if best is None:
        return _undetermined("lifetime fit (measured IRF) did not converge")
    p = best.params
    taus: list[Result] = []
    method = "profile likelihood (measured IRF, shift profiled)"
    if components == 1:
        tau = float(p[3])
        try:
            lo, hi = profile_interval(best, 3)
            taus.append(Estimate(tau, (lo, hi), "ns", method))
        except RuntimeError:
            taus.append(Undetermined(f"lifetime {tau:.4g} ns: profile did not converge", "ns"))
        life: Result = taus[0]
    else:
        taus, life = two_components(p[3:6], best.se[3:6], "Gauss-Newton")
    return LifetimeFit(
        lifetime_ns=life,
        tau_ns=tuple(taus),
        irf_sigma_ns=math.nan,
        t0_ns=float(p[1]) * bin_ns,
        background_per_bin=float(p[2]) * bg0,
        n_photons=n_ph,
        curve=model(p),
        deviance=best.deviance,
        dof=best.n_bins - p.size,
    )
