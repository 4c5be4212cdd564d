"""Blinking: on/off segmentation of the intensity trace and dwell-time statistics.

1. **Segmentation** by a two-state hidden Markov model with Poisson emissions (photons per
   bin ``~ Poisson(λ_on)`` or ``Poisson(λ_off)``, a first-order Markov chain between the
   states), fitted by expectation–maximisation (Baum–Welch) with the scaled forward–backward
   recursions, and decoded by the Viterbi algorithm (Rabiner, Proc. IEEE 77, 257 (1989),
   eqs. 92–93 (scaling), 40–41 (re-estimation), 30–35 (Viterbi)). Blinking is declared when
   the HMM beats a single Poisson rate by the Bayesian information criterion
   (``2 ΔlnL > 3 ln T``, three extra parameters; Schwarz, Ann. Stat. 6, 461 (1978)) and both
   states occur at least ``min_dwells`` times.
2. **Dwell times** are the lengths of the Viterbi runs (whole bins; the first and last runs,
   cut by the record, are dropped). Periods shorter than a bin are not resolved (see 4); the
   bin should still be well below the dwell times.
3. **Laws** (Clauset, Shalizi & Newman, SIAM Rev. 51, 661 (2009), §5): on the integers
   ``k = 1 … K`` (``K`` the trace length in bins) an exponential ``p(k) ∝ e^{−λk}`` and a
   truncated power law ``p(k) ∝ k^{−α} e^{−λk}`` (α ≥ 0; the exponential is α = 0) are fitted
   by maximum likelihood. The models are nested with α on its boundary, so the likelihood
   ratio ``LR = 2 ΔlnL`` is referred to ``½χ²₀ + ½χ²₁`` (Self & Liang, JASA 82, 605 (1987)):
   ``p = ½ P(χ²₁ > LR)``; the power law is preferred when ``p < 0.05``.
4. **Missed events**: periods shorter than about a bin are not resolved, so neighbouring
   periods of the other state merge and the apparent mean times are too long (first-order
   theory: ``τ_app = τ · e^{t_d/τ_other}`` for a dead time ``t_d``; Blatz & Magleby,
   J. Physiol. 378, 141 (1986)). The ratio ``τ_app/τ`` of *this* decoder is measured by a
   parametric bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
   §10.6): ``n_boot`` telegraph traces in continuous time with the estimated mean times and
   HMM intensities are segmented the same way; the mean times are divided by the geometric
   mean ratio.
5. **Uncertainties**: the mean on and off times ``τ = S/n`` (``S`` the summed dwell time of
   ``n`` periods) get the exact exponential interval ``[2S/χ²_{2n}(0.975), 2S/χ²_{2n}(0.025)]``
   (Epstein & Sobel, JASA 48, 486 (1953)), divided by the missed-event ratio and widened by
   its Monte-Carlo error (in quadrature, log scale); the on fraction ``f = τ_on/(τ_on + τ_off)`` a
   delta-method interval (``var ln τ = 1/n``); the on/off intensities the exact Poisson
   (Garwood) interval of the photons in the decoded states over their time; α a
   profile-likelihood interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from qlight._numba import JIT
from qlight.characterization.dwell import DwellLaw, fit_dwell_laws
from qlight.characterization.uncertainty import Estimate, Result, Undetermined
from qlight.errors import ParameterError

__all__ = [
    "BLINKING_KEYS",
    "BlinkingAnalysis",
    "DwellLaw",
    "analyse_blinking",
    "dwell_times",
    "fit_dwell_laws",
    "hmm_poisson2",
    "viterbi_poisson2",
]

BLINKING_KEYS = (
    "blinking_on_time_s",
    "blinking_off_time_s",
    "blinking_on_fraction",
    "blinking_on_intensity_cps",
    "blinking_off_intensity_cps",
)
"""Stable result keys of the blinking analysis (certificate JSON)."""


@njit(**JIT)  # type: ignore[untyped-decorator]
def _forward_backward(
    logb: NDArray[np.float64], a: NDArray[np.float64], pi: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:  # pragma: no cover - numba
    """Scaled forward–backward (Rabiner eqs. 92–93): posteriors, summed ξ, log-likelihood."""
    t_n = logb.shape[0]
    b = np.empty((t_n, 2))
    shift = np.empty(t_n)
    for t in range(t_n):
        m = max(logb[t, 0], logb[t, 1])
        shift[t] = m
        b[t, 0] = math.exp(logb[t, 0] - m)
        b[t, 1] = math.exp(logb[t, 1] - m)
    alpha = np.empty((t_n, 2))
    c = np.empty(t_n)
    alpha[0, 0] = pi[0] * b[0, 0]
    alpha[0, 1] = pi[1] * b[0, 1]
    c[0] = alpha[0, 0] + alpha[0, 1]
    alpha[0, 0] /= c[0]
    alpha[0, 1] /= c[0]
    for t in range(1, t_n):
        for j in range(2):
            alpha[t, j] = (alpha[t - 1, 0] * a[0, j] + alpha[t - 1, 1] * a[1, j]) * b[t, j]
        c[t] = alpha[t, 0] + alpha[t, 1]
        alpha[t, 0] /= c[t]
        alpha[t, 1] /= c[t]
    beta = np.empty((t_n, 2))
    beta[t_n - 1, 0] = 1.0
    beta[t_n - 1, 1] = 1.0
    xi = np.zeros((2, 2))
    for t in range(t_n - 2, -1, -1):
        for i in range(2):
            s = 0.0
            for j in range(2):
                v = a[i, j] * b[t + 1, j] * beta[t + 1, j]
                s += v
                xi[i, j] += alpha[t, i] * v / c[t + 1]
            beta[t, i] = s / c[t + 1]
    gamma = alpha * beta
    ll = 0.0
    for t in range(t_n):
        ll += math.log(c[t]) + shift[t]
    return gamma, xi, ll


@njit(**JIT)  # type: ignore[untyped-decorator]
def _viterbi(
    logb: NDArray[np.float64], loga: NDArray[np.float64], logpi: NDArray[np.float64]
) -> NDArray[np.int8]:  # pragma: no cover - numba
    """Most probable state path (Rabiner eqs. 30–35), in logs."""
    t_n = logb.shape[0]
    delta = np.empty((t_n, 2))
    psi = np.zeros((t_n, 2), dtype=np.int8)
    delta[0, 0] = logpi[0] + logb[0, 0]
    delta[0, 1] = logpi[1] + logb[0, 1]
    for t in range(1, t_n):
        for j in range(2):
            v0 = delta[t - 1, 0] + loga[0, j]
            v1 = delta[t - 1, 1] + loga[1, j]
            if v1 > v0:
                delta[t, j] = v1 + logb[t, j]
                psi[t, j] = 1
            else:
                delta[t, j] = v0 + logb[t, j]
                psi[t, j] = 0
    path = np.empty(t_n, dtype=np.int8)
    path[t_n - 1] = 1 if delta[t_n - 1, 1] > delta[t_n - 1, 0] else 0
    for t in range(t_n - 2, -1, -1):
        path[t] = psi[t + 1, path[t + 1]]
    return path


def _counts(counts: ArrayLike) -> NDArray[np.float64]:
    n = np.asarray(counts)
    if n.ndim != 1 or n.size < 2:
        raise ParameterError("counts", n.shape, "must be 1-D with at least 2 bins")
    if not np.issubdtype(n.dtype, np.number) or not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ParameterError("counts", "…", "must be finite non-negative numbers")
    return np.ascontiguousarray(n, dtype=np.float64)


def _log_emission(n: NDArray[np.float64], rates: NDArray[np.float64]) -> NDArray[np.float64]:
    lam = np.maximum(rates, 1e-12)
    out = n[:, None] * np.log(lam)[None, :] - lam[None, :] - special.gammaln(n + 1.0)[:, None]
    return np.ascontiguousarray(out, dtype=np.float64)


@dataclass(frozen=True)
class HMMFit:
    """Two-state Poisson HMM: state 0 = off (the lower rate), 1 = on.

    ``rates`` are the mean photons per bin, ``transition[i, j]`` the probability per bin of
    going from ``i`` to ``j``, ``log_likelihood`` the data's, ``iterations`` of EM.
    """

    rates: NDArray[np.float64]
    transition: NDArray[np.float64]
    initial: NDArray[np.float64]
    log_likelihood: float
    iterations: int
    converged: bool


def hmm_poisson2(counts: ArrayLike, *, max_iter: int = 500, tol: float = 1e-8) -> HMMFit:
    """Fit the two-state Poisson HMM by Baum–Welch EM (module docstring).

    Parameters
    ----------
    counts : array_like
        Photons per bin.
    max_iter : int, optional
        EM iterations at most.
    tol : float, optional
        Stop when the log-likelihood improves by less than ``tol · (1 + |lnL|)``.
    """
    n = _counts(counts)
    lo, hi = np.percentile(n, [25.0, 75.0])
    med = float(np.median(n))
    below, above = n[n <= med], n[n > med]
    rates = np.array(
        [max(float(below.mean()) if below.size else lo, 1e-3),
         max(float(above.mean()) if above.size else hi + 1.0, 2e-3)]
    )  # fmt: skip
    a = np.array([[0.95, 0.05], [0.05, 0.95]])
    pi = np.array([0.5, 0.5])
    ll_old = -math.inf
    ll = -math.inf
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        gamma, xi, ll = _forward_backward(_log_emission(n, rates), a, pi)
        occ = gamma.sum(axis=0)
        rates = np.maximum((gamma * n[:, None]).sum(axis=0) / np.maximum(occ, 1e-300), 1e-9)
        a = xi / np.maximum(xi.sum(axis=1, keepdims=True), 1e-300)
        a = np.where(np.isfinite(a), a, 0.5)
        pi = gamma[0] / gamma[0].sum()
        if ll - ll_old < tol * (1.0 + abs(ll)):
            converged = True
            break
        ll_old = ll
    if rates[0] > rates[1]:  # state 0 is off
        rates = rates[::-1].copy()
        a = a[::-1, ::-1].copy()
        pi = pi[::-1].copy()
    return HMMFit(rates, a, pi, float(ll), it, converged)


def viterbi_poisson2(counts: ArrayLike, fit: HMMFit) -> NDArray[np.int8]:
    """Viterbi path of ``fit`` for ``counts`` (1 = on, 0 = off)."""
    n = _counts(counts)
    with np.errstate(divide="ignore"):
        loga = np.log(fit.transition)
        logpi = np.log(fit.initial)
    path: NDArray[np.int8] = _viterbi(_log_emission(n, fit.rates), loga, logpi)
    return path


def dwell_times(path: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Run lengths (bins) of the on (1) and off (0) states, first and last runs dropped."""
    s = np.asarray(path, dtype=np.int8)
    if s.ndim != 1:
        raise ParameterError("path", s.shape, "must be 1-D")
    if s.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e
    edges = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [s.size]]))
    states = s[starts]
    inner = slice(1, -1)
    return (
        np.asarray(lengths[inner][states[inner] == 1], dtype=np.int64),
        np.asarray(lengths[inner][states[inner] == 0], dtype=np.int64),
    )


def _mean_dwell(
    bins: NDArray[np.int64], bin_s: float, what: str, ratio: float, se_log_ratio: float
) -> Result:
    """Exact exponential interval of the mean, divided by the missed-event ratio; the
    ratio's Monte-Carlo error is added in quadrature on the log scale."""
    n = int(bins.size)
    if n < 2:
        return Undetermined(f"{what} time not determined: {n} complete periods", "s")
    s = float(bins.sum()) * bin_s
    mean = s / n / ratio
    lo = 2.0 * s / float(stats.chi2.ppf(0.975, 2 * n)) / ratio
    hi = 2.0 * s / float(stats.chi2.ppf(0.025, 2 * n)) / ratio
    extra = (1.96 * se_log_ratio) ** 2
    lo = mean * math.exp(-math.sqrt(math.log(mean / lo) ** 2 + extra))
    hi = mean * math.exp(math.sqrt(math.log(hi / mean) ** 2 + extra))
    return Estimate(mean, (lo, hi), "s",
                    f"exponential mean, exact chi2 ({n} periods), missed-event corrected "
                    f"(x{1.0 / ratio:.3f})")  # fmt: skip


#: Bins of each bootstrap trace (the missed-event ratio depends on τ/Δ, not on the length).
_BOOT_BINS = 20_000


def _telegraph_counts(
    tau_on_bins: float,
    tau_off_bins: float,
    rates: NDArray[np.float64],
    n_bins: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Counts per bin of a continuous-time telegraph process (exponential on/off periods,
    stationary start) with Poisson photons at ``rates = (off, on)`` per bin."""
    cycle = tau_on_bins + tau_off_bins
    state_on = bool(rng.random() < tau_on_bins / cycle)
    switches = [0.0]
    on_time = [0.0]
    t = 0.0
    while t < n_bins:
        m = 2 * math.ceil(n_bins / cycle) + 16
        means = np.where((np.arange(m) % 2 == 0) == state_on, tau_on_bins, tau_off_bins)
        d = rng.exponential(means)
        ends = t + np.cumsum(d)
        on_d = np.where((np.arange(m) % 2 == 0) == state_on, d, 0.0)
        switches.extend(ends.tolist())
        on_time.extend((on_time[-1] + np.cumsum(on_d)).tolist())
        t = float(ends[-1])
        state_on = state_on if m % 2 == 0 else not state_on
    cum = np.interp(np.arange(n_bins + 1, dtype=np.float64), switches, on_time)
    frac = np.diff(cum)
    counts = rng.poisson(rates[0] + (rates[1] - rates[0]) * frac)
    return np.asarray(counts, dtype=np.float64)


def _missed_event_ratios(
    t_on_bins: float,
    t_off_bins: float,
    fit: HMMFit,
    n_bins: int,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Apparent/true ratio of the mean on and off times for this decoder (and its s.e. of
    the log), by parametric bootstrap at the estimated parameters (module docstring)."""
    if n_boot <= 0:
        return (1.0, 1.0), (0.0, 0.0)
    logs: list[tuple[float, float]] = []
    for _ in range(n_boot):
        c = _telegraph_counts(t_on_bins, t_off_bins, fit.rates, n_bins, rng)
        hf = hmm_poisson2(c)
        on, off = dwell_times(viterbi_poisson2(c, hf))
        if on.size >= 2 and off.size >= 2:
            logs.append((math.log(on.mean() / t_on_bins), math.log(off.mean() / t_off_bins)))
    if len(logs) < 2:
        return (1.0, 1.0), (0.0, 0.0)
    arr = np.asarray(logs)
    mean = arr.mean(axis=0)
    se = arr.std(axis=0, ddof=1) / math.sqrt(arr.shape[0])
    return (math.exp(mean[0]), math.exp(mean[1])), (float(se[0]), float(se[1]))


def _poisson_rate(photons: float, time_s: float) -> Result:
    if time_s <= 0.0:
        return Undetermined("no time in this state", "1/s")
    lo = 0.5 * float(stats.chi2.ppf(0.025, 2 * photons)) if photons > 0 else 0.0
    hi = 0.5 * float(stats.chi2.ppf(0.975, 2 * photons + 2))
    return Estimate(float(photons / time_s), (lo / time_s, hi / time_s), "1/s", "Poisson (Garwood)")


@dataclass(frozen=True)
class BlinkingAnalysis:
    """Result of :func:`analyse_blinking`: results under :data:`BLINKING_KEYS`, the HMM, the
    decoded path and the dwell-time laws (``None`` when not determined)."""

    results: dict[str, Result]
    blinking: bool
    reason: str
    bin_s: float
    hmm: HMMFit | None = None
    path: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    on_dwell_bins: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    off_dwell_bins: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    on_law: DwellLaw | None = None
    off_law: DwellLaw | None = None

    def as_json(self) -> dict[str, object]:
        """Segmentation summary and laws (the results go under their stable keys)."""
        return {
            "blinking": self.blinking,
            "reason": self.reason,
            "bin_s": self.bin_s,
            "n_on_periods": int(self.on_dwell_bins.size),
            "n_off_periods": int(self.off_dwell_bins.size),
            "on_law": None if self.on_law is None else self.on_law.as_json(),
            "off_law": None if self.off_law is None else self.off_law.as_json(),
        }


def analyse_blinking(
    counts: ArrayLike,
    bin_s: float,
    *,
    min_dwells: int = 10,
    n_boot: int = 40,
    rng: np.random.Generator | None = None,
) -> BlinkingAnalysis:
    """Segment an intensity trace and characterize its blinking (module docstring).

    Parameters
    ----------
    counts : array_like
        Photons per bin of the intensity trace.
    bin_s : float
        Bin width (s).
    min_dwells : int, optional
        Complete on and off periods needed for a blinking analysis.
    n_boot : int, optional
        Bootstrap traces for the missed-event correction (0: no correction).
    rng : numpy.random.Generator, optional
        Randomness of the bootstrap (default ``numpy.random.default_rng(0)``: the same
        trace always gives the same result).

    Returns
    -------
    BlinkingAnalysis
        With ``blinking = False`` and every result not determined (and the reason) when the
        trace shows no blinking, is too short, or has too few periods.
    """
    n = _counts(counts)
    if not math.isfinite(bin_s) or bin_s <= 0.0:
        raise ParameterError("bin_s", bin_s, "must be finite and > 0")

    def none(why: str, **kw: object) -> BlinkingAnalysis:
        res: dict[str, Result] = {k: Undetermined(why, "s") for k in BLINKING_KEYS[:2]}
        res["blinking_on_fraction"] = Undetermined(why, "")
        tot = float(n.sum())
        res["blinking_on_intensity_cps"] = _poisson_rate(tot, n.size * bin_s)
        res["blinking_off_intensity_cps"] = Undetermined(why, "1/s")
        return BlinkingAnalysis(res, False, why, bin_s, **kw)  # type: ignore[arg-type]

    if n.sum() < 100:
        return none(f"blinking not analysed: {n.sum():.0f} photons in the trace (need >= 100)")
    fit = hmm_poisson2(n)
    mean = float(n.mean())
    ll1 = float(np.sum(n * math.log(max(mean, 1e-300)) - mean - special.gammaln(n + 1.0)))
    lr = 2.0 * (fit.log_likelihood - ll1)
    if lr <= 3.0 * math.log(n.size) or fit.rates[1] <= fit.rates[0]:
        return none(f"no blinking: two-state model not supported (2 ΔlnL = {lr:.1f} <= "
                    f"3 ln T = {3.0 * math.log(n.size):.1f})", hmm=fit)  # fmt: skip
    path = viterbi_poisson2(n, fit)
    on, off = dwell_times(path)
    if min(on.size, off.size) < min_dwells:
        return none(f"blinking not characterized: {on.size} on and {off.size} off complete "
                    f"periods (need >= {min_dwells} each)", hmm=fit, path=path)  # fmt: skip
    gen = np.random.default_rng(0) if rng is None else rng
    ratio, se_ratio = _missed_event_ratios(float(on.mean()), float(off.mean()), fit,
                                           min(n.size, _BOOT_BINS), n_boot, gen)  # fmt: skip
    res: dict[str, Result] = {
        "blinking_on_time_s": _mean_dwell(on, bin_s, "on", ratio[0], se_ratio[0]),
        "blinking_off_time_s": _mean_dwell(off, bin_s, "off", ratio[1], se_ratio[1]),
    }
    t_on, t_off = float(on.mean()) / ratio[0], float(off.mean()) / ratio[1]
    f = t_on / (t_on + t_off)
    se_log = math.sqrt(1.0 / on.size + 1.0 / off.size + se_ratio[0] ** 2 + se_ratio[1] ** 2)
    half = 1.96 * f * (1.0 - f) * se_log
    res["blinking_on_fraction"] = Estimate(
        f, (max(f - half, 0.0), min(f + half, 1.0)), "", "delta method (corrected mean times)"
    )
    is_on = path == 1
    t_in_on = float(is_on.sum()) * bin_s
    res["blinking_on_intensity_cps"] = _poisson_rate(float(n[is_on].sum()), t_in_on)
    res["blinking_off_intensity_cps"] = _poisson_rate(
        float(n[~is_on].sum()), n.size * bin_s - t_in_on
    )
    return BlinkingAnalysis(
        res, True, f"two-state model preferred (2 ΔlnL = {lr:.1f})", bin_s, fit, path, on, off,
        fit_dwell_laws(on, n.size), fit_dwell_laws(off, n.size),
    )  # fmt: skip
