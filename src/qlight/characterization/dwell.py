"""Dwell-time laws of blinking: exponential vs truncated power law (Clauset et al. 2009).

On the integers ``k = 1 … K`` (``K`` the trace length in bins) an exponential
``p(k) ∝ e^{−λk}`` and a truncated power law ``p(k) ∝ k^{−α} e^{−λk}`` (α ≥ 0; the exponential
is α = 0) are fitted by maximum likelihood (Clauset, Shalizi & Newman, SIAM Rev. 51, 661
(2009), §5). The models are nested with α on its boundary, so the likelihood ratio
``LR = 2 ΔlnL`` is referred to ``½χ²₀ + ½χ²₁`` (Self & Liang, JASA 82, 605 (1987)):
``p = ½ P(χ²₁ > LR)``; the power law is preferred when ``p < 0.05``. α gets a 95 %
profile-likelihood interval (λ re-optimised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from qlight.characterization.uncertainty import Estimate, Result, Undetermined
from qlight.errors import ParameterError

__all__ = ["DwellLaw", "fit_dwell_laws"]


@dataclass(frozen=True)
class DwellLaw:
    """Exponential vs truncated power law of one state's dwell times (module docstring).

    ``rate_exp_per_bin`` is the exponential's λ; ``alpha`` (with its 95 % profile interval)
    and ``rate_tpl_per_bin`` the truncated power law's; ``lr`` the likelihood ratio,
    ``p_value`` its boundary-corrected p-value and ``preferred`` the chosen law.
    """

    n: int
    rate_exp_per_bin: float
    alpha: Result
    rate_tpl_per_bin: float
    lr: float
    p_value: float
    preferred: str

    def as_json(self) -> dict[str, object]:
        """Plain-JSON summary."""
        return {
            "n_periods": self.n,
            "exponential_rate_per_bin": self.rate_exp_per_bin,
            "power_law_alpha": self.alpha.as_json(),
            "power_law_cutoff_rate_per_bin": self.rate_tpl_per_bin,
            "likelihood_ratio": self.lr,
            "p_value": self.p_value,
            "preferred": self.preferred,
        }


def _tpl_nll(k: NDArray[np.float64], kk: NDArray[np.float64], alpha: float, lam: float) -> float:
    """NLL of ``p(k) = k^{−α} e^{−λk} / Σ_{j=1}^{K} j^{−α} e^{−λj}``."""
    log_terms = -alpha * np.log(kk) - lam * kk
    m = float(log_terms.max())
    log_z = m + math.log(float(np.exp(log_terms - m).sum()))
    return float(alpha * np.log(k).sum() + lam * k.sum() + k.size * log_z)


def fit_dwell_laws(dwell_bins: ArrayLike, k_max: int) -> DwellLaw:
    """Fit both laws to dwell times in bins on ``1 … k_max`` and compare them (module doc)."""
    k = np.asarray(dwell_bins, dtype=np.float64)
    if k.ndim != 1 or k.size < 2 or np.any(k < 1) or np.any(k > k_max):
        raise ParameterError("dwell_bins", k.size, f"need >= 2 values in 1…{k_max}")
    kk = np.arange(1, int(k_max) + 1, dtype=np.float64)
    lam_hi = 50.0

    def nll_exp(lam: float) -> float:
        return _tpl_nll(k, kk, 0.0, lam)

    r_exp = optimize.minimize_scalar(nll_exp, bounds=(0.0, lam_hi), method="bounded",
                                     options={"xatol": 1e-10})  # fmt: skip
    lam_e = float(r_exp.x)
    nll_e = float(r_exp.fun)

    def nll2(p: NDArray[np.float64]) -> float:
        return _tpl_nll(k, kk, float(p[0]), float(p[1]))

    best = None
    for a0 in (0.5, 1.5):
        r = optimize.minimize(nll2, [a0, lam_e], method="L-BFGS-B",
                              bounds=[(0.0, 5.0), (0.0, lam_hi)])  # fmt: skip
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None
    alpha, lam_t = float(best.x[0]), float(best.x[1])
    nll_t = min(float(best.fun), nll_e)
    if nll_t == nll_e:
        alpha, lam_t = 0.0, lam_e
    lr = max(2.0 * (nll_e - nll_t), 0.0)
    p = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0.0 else 1.0

    def prof(a: float) -> float:
        r = optimize.minimize_scalar(lambda lm: _tpl_nll(k, kk, a, lm), bounds=(0.0, lam_hi),
                                     method="bounded", options={"xatol": 1e-10})  # fmt: skip
        return float(r.fun) - nll_t - 0.5 * float(stats.chi2.ppf(0.95, 1))

    hi = alpha
    while hi < 5.0 and prof(hi) < 0.0:
        hi = min(hi + 0.25, 5.0)
    a_hi = 5.0 if prof(hi) < 0.0 else float(optimize.brentq(prof, alpha, hi, xtol=1e-4))
    a_lo = 0.0 if alpha == 0.0 or prof(0.0) < 0.0 else float(
        optimize.brentq(prof, 0.0, alpha, xtol=1e-4))  # fmt: skip
    a_res: Result = (
        Estimate(alpha, (a_lo, a_hi), "", "profile likelihood")
        if a_hi < 5.0
        else Undetermined(f"power-law exponent {alpha:.3g}: interval reaches 5", "")
    )
    return DwellLaw(int(k.size), lam_e, a_res, lam_t, lr, p,
                    "truncated power law" if p < 0.05 else "exponential")  # fmt: skip
