"""Results with honest uncertainties: Poisson maximum likelihood and profile-likelihood CIs.

Every fit of :mod:`qlight.characterization` minimises the Poisson negative log-likelihood
(Baker & Cousins, NIM 221, 437 (1984), eq. 12: the deviance ``2 Σ μ − n + n ln(n/μ)``) with
``scipy.optimize.minimize`` and gives each headline parameter a 95 % confidence interval from
the profile likelihood (Wilks' theorem: ``2 ΔlnL = χ²₁(0.95) = 3.841``; Venzon & Moolgavkar,
Appl. Stat. 37, 87 (1988)). The profile is re-optimised over every other parameter and its
crossing is found with ``scipy.optimize.brentq``. A quantity that could not be determined is an
:class:`Undetermined` with the reason, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

__all__ = [
    "CHI2_95_HALF",
    "Estimate",
    "PoissonFit",
    "Result",
    "Undetermined",
    "fit_poisson",
    "fits_well",
    "hessian_se",
    "poisson_nll",
    "profile_ci",
]

CHI2_95_HALF = 0.5 * float(stats.chi2.ppf(0.95, 1))
"""Half of the 95 % quantile of χ² with one degree of freedom (1.9207)."""


@dataclass(frozen=True)
class Estimate:
    """A determined result: value, 95 % interval, unit and how the interval was obtained."""

    value: float
    ci95: tuple[float, float]
    unit: str
    method: str = "profile likelihood"

    def as_json(self) -> dict[str, object]:
        """``{"value": v, "ci95": [lo, hi], "unit": u, "method": m}``."""
        return {
            "value": float(self.value),
            "ci95": [float(self.ci95[0]), float(self.ci95[1])],
            "unit": self.unit,
            "method": self.method,
        }

    def contains(self, truth: float) -> bool:
        """Whether ``truth`` lies in the closed interval."""
        return self.ci95[0] <= truth <= self.ci95[1]


@dataclass(frozen=True)
class Undetermined:
    """A result that could not be determined, with the reason (never a fabricated number)."""

    reason: str
    unit: str

    def as_json(self) -> dict[str, object]:
        """``{"value": null, "ci95": null, "unit": u, "note": reason}``."""
        return {"value": None, "ci95": None, "unit": self.unit, "note": self.reason}


Result = Estimate | Undetermined


def fits_well(deviance: float, n_bins: int) -> bool:
    """A Poisson fit's deviance within 5 σ of its χ² mean (n_bins, σ = √(2 n_bins)).

    The multi-start fits stop trying further starting points once a fit is this good (the
    deviance of a correct model is ≈ χ² with ≈ n_bins degrees of freedom; McCullagh &
    Nelder, *Generalized Linear Models*, 2nd ed., Sec. 4.4.3).
    """
    return deviance < n_bins + 5.0 * math.sqrt(2.0 * n_bins)


def poisson_nll(counts: NDArray[np.float64], mu: NDArray[np.float64]) -> float:
    """Poisson negative log-likelihood up to a constant, ``Σ μ − n ln μ`` (``μ`` floored).

    Half the Baker–Cousins deviance plus a data-only constant, so differences between
    parameter sets are exact likelihood ratios.
    """
    m = np.maximum(mu, 1e-300)
    return float(np.sum(m) - np.dot(counts, np.log(m)))


@dataclass(frozen=True)
class PoissonFit:
    """Maximum-likelihood fit of a Poisson model.

    Attributes
    ----------
    params : ndarray
        Best-fit parameters.
    nll : float
        Negative log-likelihood at the optimum.
    converged : bool
        Whether the optimiser reported success and the optimum is finite.
    deviance : float
        Baker–Cousins deviance of the fit (≈ χ² with ``n_bins − n_params`` dof).
    n_bins : int
        Number of data bins.
    """

    params: NDArray[np.float64]
    nll: float
    converged: bool
    deviance: float
    n_bins: int
    objective: Callable[[NDArray[np.float64]], float] = field(repr=False)
    bounds: tuple[tuple[float, float], ...] = ()


def _deviance(counts: NDArray[np.float64], mu: NDArray[np.float64]) -> float:
    m = np.maximum(mu, 1e-300)
    pos = counts > 0
    term = m - counts
    term[pos] += counts[pos] * np.log(counts[pos] / m[pos])
    return float(2.0 * np.sum(term))


def _minimise(
    f: Callable[[NDArray[np.float64]], float],
    x0: NDArray[np.float64],
    bounds: Sequence[tuple[float, float]],
) -> tuple[NDArray[np.float64], float, bool]:
    res = optimize.minimize(f, x0, method="L-BFGS-B", bounds=list(bounds))
    x = np.asarray(res.x, dtype=np.float64)
    # A second L-BFGS-B pass from the first optimum (fresh curvature memory) polishes it.
    res2 = optimize.minimize(f, x, method="L-BFGS-B", bounds=list(bounds))
    x2 = np.asarray(res2.x, dtype=np.float64)
    f1, f2 = float(res.fun), float(res2.fun)
    best, fbest = (x2, f2) if f2 < f1 else (x, f1)
    return best, fbest, bool(math.isfinite(fbest))


def fit_poisson(
    model: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    counts: NDArray[np.float64],
    x0: Sequence[float],
    bounds: Sequence[tuple[float, float]],
) -> PoissonFit:
    """Maximum-likelihood fit of ``counts ~ Poisson(model(params))``.

    Parameters
    ----------
    model : callable
        Expected counts per bin for a parameter vector (same shape as ``counts``).
    counts : ndarray
        Observed counts.
    x0 : sequence of float
        Starting point (inside ``bounds``).
    bounds : sequence of (float, float)
        Box bounds of each parameter.
    """
    n = np.asarray(counts, dtype=np.float64)

    def objective(p: NDArray[np.float64]) -> float:
        mu = model(p)
        if not np.all(np.isfinite(mu)):
            return 1e300
        return poisson_nll(n, mu)

    x, fmin, ok = _minimise(objective, np.asarray(x0, dtype=np.float64), bounds)
    return PoissonFit(
        params=x,
        nll=fmin,
        converged=ok and fmin < 1e299,
        deviance=_deviance(n, model(x)),
        n_bins=int(n.size),
        objective=objective,
        bounds=tuple((float(a), float(b)) for a, b in bounds),
    )


def _profile(fit: PoissonFit, index: int, value: float, start: NDArray[np.float64]) -> float:
    """Minimum of the NLL with parameter ``index`` fixed to ``value``."""
    free = [i for i in range(fit.params.size) if i != index]
    if not free:
        p = fit.params.copy()
        p[index] = value
        return fit.objective(p)

    def f(q: NDArray[np.float64]) -> float:
        p = np.empty(fit.params.size)
        p[free] = q
        p[index] = value
        return fit.objective(p)

    res = optimize.minimize(f, start[free], method="L-BFGS-B", bounds=[fit.bounds[i] for i in free])
    return float(res.fun)


def profile_ci(fit: PoissonFit, index: int, *, scale: float) -> tuple[float, float]:
    """95 % profile-likelihood interval of parameter ``index``.

    The interval is ``{θ : min_rest NLL(θ, rest) − NLL_min ≤ 1.9207}``. Each side is bracketed
    by stepping out from the optimum by ``scale`` (a rough standard error), doubling, and then
    solved with ``brentq``; a side that reaches the parameter's bound stops there.

    Parameters
    ----------
    fit : PoissonFit
        Result of :func:`fit_poisson`.
    index : int
        Which parameter.
    scale : float
        Initial step (> 0), e.g. a rough standard error.
    """
    x0 = float(fit.params[index])
    lo_b, hi_b = fit.bounds[index]
    start = fit.params.copy()

    def excess(v: float) -> float:
        return _profile(fit, index, v, start) - fit.nll - CHI2_95_HALF

    xtol = 1e-3 * scale  # the interval ends to 0.1 % of a standard error

    def side(sign: float) -> float:
        bound = hi_b if sign > 0 else lo_b
        step = scale
        inner = x0
        for _ in range(40):
            v = x0 + sign * step
            if (sign > 0 and v >= bound) or (sign < 0 and v <= bound):
                v = bound
                return (
                    v if excess(v) <= 0.0 else float(optimize.brentq(excess, inner, v, xtol=xtol))
                )
            if excess(v) > 0.0:
                return float(optimize.brentq(excess, inner, v, xtol=xtol))
            inner = v
            step *= 2.0
        return bound

    return side(-1.0), side(1.0)


def hessian_se(fit: PoissonFit, rel_step: float = 1e-4) -> NDArray[np.float64]:
    """Standard errors from the inverse of the finite-difference Hessian of the NLL."""
    p = fit.params
    k = p.size
    h = rel_step * np.maximum(np.abs(p), 1e-3)
    hess = np.empty((k, k))
    f = fit.objective
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            v = (f(p + ei + ej) - f(p + ei - ej) - f(p - ei + ej) + f(p - ei - ej)) / (
                4.0 * h[i] * h[j]
            )
            hess[i, j] = hess[j, i] = v
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    d = np.diag(cov)
    return np.asarray(np.sqrt(np.where(d > 0, d, np.nan)), dtype=np.float64)
