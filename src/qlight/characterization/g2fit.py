"""Fits of the second-order correlation: CW three-level model, N emitters, pulsed peak areas.

CW model (Kurtsiefer et al., PRL 85, 290 (2000), eq. 3, with background after Brouri et al.,
Opt. Lett. 25, 1294 (2000), eq. 2 and the combined Gaussian timing response of both detectors,
``REFERENCES.md``)::

    g2_meas(τ) = N · [1 − A·K(τ; τ1, σ) + B·K(τ; τ2, σ)],
    K(τ; τc, σ) = (e^{−|τ|/τc} ⊛ Gauss_σ)(τ),

with ``A = ρ²(1 + a)`` and ``B = ρ² a`` for a single emitter. The histogram counts are
``Poisson(E_k · ḡ_k)``, ``E_k = N1·N2·Δτ·(T − |τ_k|)/T²`` the uncorrelated expectation and
``ḡ_k`` the model averaged over bin ``k`` (four-point midpoint rule). ``N`` absorbs the
normalisation (blinking outside the window). The fit is parametrised by
``(N, g2_raw(0), τ1, B, τ2)`` so that the headline ``g2_raw(0) = g2_meas(0)`` (the IRF-limited
value a histogram shows at zero delay) has a profile-likelihood interval.

Derived results:

* ``g2_corr(0) = (g2_raw(0) − (1 − ρ²))/ρ²`` (Brouri eq. 3) with ``ρ = S/(S+B)`` from the
  measured count rate and the separately measured background rate (``ρ = 1`` without one);
* the deconvolved ``g2_d(0) = N(1 − A + B)``; N identical emitters give
  ``g2_d(0) = 1 − 1/n`` (e.g. Sýkora et al.; REFERENCES.md), so ``n = 1/(1 − g2_d,corr(0))``.

Pulsed: ``g2(0) = C/(S/2m)`` with ``C`` the central and ``S`` the sum of ``2m`` side-peak areas.
Conditional on ``C + S``, ``C ~ Binomial(C + S, p)`` with ``p = g/(g + 2m)``; the
Clopper–Pearson interval of ``p`` (Clopper & Pearson, Biometrika 26, 404 (1934)) maps to an
exact 95 % interval of ``g2(0) = 2m·p/(1 − p)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from qlight._validation import check_fraction, check_nonnegative
from qlight.characterization.uncertainty import (
    Estimate,
    PoissonFit,
    Result,
    Undetermined,
    fit_poisson,
    fits_well,
    hessian_se,
    profile_ci,
)
from qlight.errors import ParameterError
from qlight.timetags.g2 import G2Histogram, PulsedG2

__all__ = [
    "MIN_COINCIDENCES",
    "G2Fit",
    "exp_conv_gauss",
    "fit_g2_cw",
    "g2_model_cw",
    "g2_pulsed_areas",
    "rho_from_rates",
]

MIN_COINCIDENCES = 200
"""Fewer coincidences in the histogram than this: g2 is reported as not determined."""

_SQRT2 = math.sqrt(2.0)


def exp_conv_gauss(
    tau_ns: NDArray[np.float64], tc_ns: float, sigma_ns: float
) -> NDArray[np.float64]:
    """``e^{−|τ|/τc}`` convolved with a unit-area Gaussian of standard deviation σ.

    Exponentially modified Gaussian, written with ``erfcx`` so that it never overflows:
    each half is ``½ e^{−t²/2σ²} erfcx((κσ² − t)/(σ√2))`` with ``κ = 1/τc``, and for a negative
    argument ``erfcx(x) = 2e^{x²} − erfcx(−x)`` (Abramowitz & Stegun 7.1.2).
    """
    t = np.asarray(tau_ns, dtype=np.float64)
    if sigma_ns <= 0.0:
        return np.asarray(np.exp(-np.abs(t) / tc_ns), dtype=np.float64)
    k = 1.0 / tc_ns

    def half(s: NDArray[np.float64]) -> NDArray[np.float64]:
        x = (k * sigma_ns**2 - s) / (sigma_ns * _SQRT2)
        g = np.exp(-(s**2) / (2.0 * sigma_ns**2))
        pos = x >= 0.0
        ex = special.erfcx(np.abs(x))
        direct = np.exp(np.minimum(0.5 * k * k * sigma_ns**2 - k * s, 700.0))
        return np.asarray(np.where(pos, 0.5 * g * ex, direct - 0.5 * g * ex), dtype=np.float64)

    return np.asarray(half(t) + half(-t), dtype=np.float64)


def g2_model_cw(
    tau_ns: NDArray[np.float64],
    norm: float,
    amp_a: float,
    tau1_ns: float,
    amp_b: float,
    tau2_ns: float,
    sigma_ns: float,
) -> NDArray[np.float64]:
    """``N[1 − A·K(τ; τ1, σ) + B·K(τ; τ2, σ)]`` (module docstring)."""
    return norm * (
        1.0
        - amp_a * exp_conv_gauss(tau_ns, tau1_ns, sigma_ns)
        + amp_b * exp_conv_gauss(tau_ns, tau2_ns, sigma_ns)
    )


def rho_from_rates(total_rate_per_s: float, background_rate_per_s: float) -> float:
    """``ρ = S/(S + B) = 1 − B/(S + B)`` from the measured and the background count rate."""
    tot = check_nonnegative("total_rate_per_s", total_rate_per_s)
    bg = check_nonnegative("background_rate_per_s", background_rate_per_s)
    if tot <= 0.0 or bg >= tot:
        raise ParameterError(
            "background_rate_per_s", bg, f"must be below the measured rate {tot:g}"
        )
    return 1.0 - bg / tot


@dataclass(frozen=True)
class G2Fit:
    """Result of :func:`fit_g2_cw`.

    ``g2_0_raw`` is the fitted measured g2 at τ = 0 (IRF-limited, background included),
    ``g2_0_corrected`` its Brouri correction, ``g2_0_deconvolved`` the model without IRF,
    ``n_emitters`` the emitter number from it, ``tau1_ns``/``tau2_ns`` the antibunching and
    bunching times. ``params`` are ``(N, g2_raw(0), τ1, B, τ2)``; ``curve`` gives the fitted
    g2 at the histogram bin centres (empty when not determined).
    """

    g2_0_raw: Result
    g2_0_corrected: Result
    g2_0_deconvolved: Result
    n_emitters: Result
    tau1_ns: Result
    tau2_ns: Result
    rho: float
    sigma_irf_ps: float
    coincidences: int
    params: NDArray[np.float64]
    curve: NDArray[np.float64]
    deviance: float
    dof: int


def _not_determined(reason: str, rho: float, sigma_ps: float, n: int) -> G2Fit:
    def u(unit: str) -> Undetermined:
        return Undetermined(reason, unit)

    return G2Fit(
        u(""), u(""), u(""), u(""), u("ns"), u("ns"), rho, sigma_ps, n,
        np.zeros(0), np.zeros(0), math.nan, 0,
    )  # fmt: skip


def _wald(value: float, se: float, what: str) -> Result:
    """``value ± 1.96·se`` in ns, or not determined when the Hessian is not positive definite."""
    if not math.isfinite(se):
        return Undetermined(f"{what} not determined: likelihood not curved (Hessian)", "ns")
    return Estimate(value, (value - 1.959964 * se, value + 1.959964 * se), "ns", "Hessian (Wald)")


def _bin_average_points(hist: G2Histogram) -> NDArray[np.float64]:
    """Four midpoint sub-samples of every bin, in ns, shape (n_bins, 4)."""
    left = hist.lags_ps.astype(np.float64)
    frac = (np.arange(4) + 0.5) / 4.0
    return np.asarray((left[:, None] + frac[None, :] * hist.bin_ps) * 1e-3, dtype=np.float64)


def fit_g2_cw(
    hist: G2Histogram,
    *,
    irf_sigma_ps: float,
    rho: float = 1.0,
    min_coincidences: int = MIN_COINCIDENCES,
) -> G2Fit:
    """Poisson maximum-likelihood fit of the CW three-level g2 (module docstring).

    Parameters
    ----------
    hist : G2Histogram
        CW g2 histogram (``qlight.timetags.g2.g2_cw``), window several bunching times wide.
    irf_sigma_ps : float
        Standard deviation of the combined timing response of both detectors,
        ``√(σ1² + σ2²)`` (>= 0).
    rho : float, optional
        ``S/(S+B)`` for the Brouri correction (default 1: no background known).
    min_coincidences : int, optional
        Below this total the result is not determined (default :data:`MIN_COINCIDENCES`).

    Returns
    -------
    G2Fit
        Every result with a 95 % profile-likelihood interval, or :class:`Undetermined` with the
        reason ("g2(0) not determined: 12 coincidences", a flat g2, a failed fit).
    """
    sigma_ps = check_nonnegative("irf_sigma_ps", irf_sigma_ps)
    r = check_fraction("rho", rho)
    if r <= 0.0:
        raise ParameterError("rho", rho, "must be > 0")
    n_coinc = int(hist.counts.sum())
    if n_coinc < min_coincidences or hist.n_a == 0 or hist.n_b == 0:
        why = f"g2(0) not determined: {n_coinc} coincidences (need >= {min_coincidences})"
        return _not_determined(why, r, sigma_ps, n_coinc)
    sig = sigma_ps * 1e-3
    pts = _bin_average_points(hist)
    expected = hist.expected
    counts = hist.counts.astype(np.float64)
    window_ns = hist.window_ps * 1e-3

    def unpack(p: NDArray[np.float64]) -> tuple[float, float, float, float, float]:
        norm, g0, t1, b, t2 = (float(v) for v in p)
        k1 = float(exp_conv_gauss(np.zeros(1), t1, sig)[0])
        k2 = float(exp_conv_gauss(np.zeros(1), t2, sig)[0])
        a = (1.0 + b * k2 - g0 / norm) / k1
        return norm, a, t1, b, t2

    def model(p: NDArray[np.float64]) -> NDArray[np.float64]:
        norm, a, t1, b, t2 = unpack(p)
        g = g2_model_cw(pts, norm, a, t1, b, t2, sig).mean(axis=1)
        return np.asarray(expected * g, dtype=np.float64)

    tail = np.abs(hist.center_ps) > 0.5 * hist.window_ps
    norm0 = float(counts[tail].sum() / max(expected[tail].sum(), 1e-300)) if tail.any() else 1.0
    norm0 = max(norm0, 1e-3)
    centre = np.abs(hist.center_ps) <= max(2.0 * hist.bin_ps, 3.0 * sigma_ps)
    g00 = float(counts[centre].sum() / max(expected[centre].sum(), 1e-300))
    t_max = 10.0 * window_ns
    bounds = [
        (1e-3, 10.0 * max(norm0, 1.0)),
        (0.0, 5.0 * max(norm0, 1.0)),
        (1e-3, window_ns),
        (0.0, 20.0),
        (1e-3, t_max),
    ]
    best: PoissonFit | None = None
    for t1_start, t2_start in ((1.0, 0.2 * window_ns), (3.0, 0.05 * window_ns), (0.5, window_ns)):
        x0 = [norm0, min(max(g00, 0.01), 0.99 * norm0), min(t1_start, 0.5 * window_ns), 0.1,
              max(min(t2_start, t_max), 2e-3)]  # fmt: skip
        f = fit_poisson(model, counts, x0, bounds)
        if f.converged and (best is None or f.nll < best.nll):
            best = f
        if best is not None and fits_well(best.deviance, best.n_bins):
            break  # a good fit (deviance within 5 σ of its χ² mean): no other start needed
    if best is None:
        return _not_determined("g2 not determined: the fit did not converge", r, sigma_ps, n_coinc)
    norm, a, t1, b, t2 = unpack(best.params)
    # Flat g2 (no dip): compare with the one-parameter flat model N·E_k.
    flat_norm = counts.sum() / expected.sum()
    flat_nll = float(np.sum(flat_norm * expected) - np.dot(counts, np.log(flat_norm * expected)))
    lr = 2.0 * (flat_nll - best.nll)
    if lr < float(stats.chi2.ppf(0.95, 4)) or a * exp_conv_gauss(np.zeros(1), t1, sig)[0] < 0.0:
        why = f"g2 shows no antibunching (likelihood ratio {lr:.1f} against a flat g2)"
        return _not_determined(why, r, sigma_ps, n_coinc)
    g0 = float(best.params[1])
    se_g0 = math.sqrt(max(g0, 1.0 / max(float(counts[centre].sum()), 1.0))) / math.sqrt(
        max(float(expected[centre].sum()), 1.0)
    )
    lo, hi = profile_ci(best, 1, scale=max(se_g0, 1e-4))
    raw = Estimate(g0, (lo, hi), "")
    r2 = r * r
    corr = Estimate((g0 - (1.0 - r2)) / r2, ((lo - (1.0 - r2)) / r2, (hi - (1.0 - r2)) / r2), "")
    se = hessian_se(best)
    tau1 = _wald(t1, float(se[2]), "antibunching time")
    tau2 = _wald(t2, float(se[4]), "bunching time")
    gd = norm * (1.0 - a + b)
    # The deconvolved value shares the raw interval's relative width (shift of the same curve).
    shift_lo, shift_hi = g0 - lo, hi - g0
    k1 = float(exp_conv_gauss(np.zeros(1), t1, sig)[0])
    dec = Estimate(gd, (gd - shift_lo / k1, gd + shift_hi / k1), "", "profile likelihood (g2_raw)")
    gdc_lo = (dec.ci95[0] - (1.0 - r2)) / r2
    gdc_hi = (dec.ci95[1] - (1.0 - r2)) / r2
    gdc = (gd - (1.0 - r2)) / r2
    n_em: Result
    if gdc_hi >= 1.0:
        n_em = Undetermined("emitter number unbounded: g2 consistent with >= 1", "")
    else:
        n_em = Estimate(
            1.0 / (1.0 - min(gdc, 0.999999)),
            (1.0 / (1.0 - max(gdc_lo, -1e9)), 1.0 / (1.0 - gdc_hi)),
            "",
            "1/(1 − g2_d,corr(0))",
        )
        if n_em.ci95[0] < 0.0:
            n_em = Estimate(n_em.value, (0.5, n_em.ci95[1]), "", n_em.method)
    curve = g2_model_cw(hist.center_ps * 1e-3, norm, a, t1, b, t2, sig)
    return G2Fit(
        g2_0_raw=raw,
        g2_0_corrected=corr,
        g2_0_deconvolved=dec,
        n_emitters=n_em,
        tau1_ns=tau1,
        tau2_ns=tau2,
        rho=r,
        sigma_irf_ps=sigma_ps,
        coincidences=n_coinc,
        params=best.params,
        curve=np.asarray(curve, dtype=np.float64),
        deviance=best.deviance,
        dof=best.n_bins - 5,
    )


def g2_pulsed_areas(pulsed: PulsedG2, *, min_counts: int = 10) -> Result:
    """Pulsed g2(0) from central and side-peak areas with an exact 95 % interval.

    Conditional on ``C + S`` the central area is ``Binomial(C + S, g/(g + 2m))``; the
    Clopper–Pearson interval of that proportion gives ``g2(0) ∈ [2m·pl/(1−pl), 2m·ph/(1−ph)]``
    (module docstring).

    Parameters
    ----------
    pulsed : PulsedG2
        Peak areas (``qlight.timetags.g2.g2_pulsed_ratio``).
    min_counts : int, optional
        Fewer side-peak counts than this: not determined.
    """
    c = int(pulsed.center_counts)
    s = int(np.sum(pulsed.side_counts))
    m2 = int(pulsed.side_counts.size)
    if s < min_counts or m2 == 0:
        return Undetermined(f"pulsed g2(0) not determined: {s} side-peak coincidences", "")
    n = c + s
    alpha = 0.05
    p_lo = 0.0 if c == 0 else float(stats.beta.ppf(alpha / 2, c, n - c + 1))
    p_hi = 1.0 if c == n else float(stats.beta.ppf(1 - alpha / 2, c + 1, n - c))
    hi = math.inf if p_hi >= 1.0 else m2 * p_hi / (1.0 - p_hi)
    return Estimate(m2 * c / s, (m2 * p_lo / (1.0 - p_lo), hi), "", "Clopper-Pearson")
