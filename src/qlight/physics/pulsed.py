"""Exact pulsed-excitation analytics of the rate model (rectangular pulses).

The pump is ``k12_peak = k12_per_ns_per_w · P_avg / (f_rep · w)`` during each pulse of width
``w`` (the time-averaged power ``P_avg`` is what a power meter reads) and zero in between, so
the rate matrix is piecewise constant: ``Q_on`` inside pulses, ``Q_off`` outside. Everything
here follows from the propagators ``exp(Q t)``:

* periodic steady state at the pulse start: the eigenvector of eigenvalue 1 of
  ``U = exp(Q_off (T − w)) exp(Q_on w)``;
* mean photons emitted per pulse: ``∫_0^T qe k21 p2(t) dt``;
* normalized peak areas of the pulsed g2: ``g_n = G_n / N_pp²`` where ``G_n`` is the mean
  number of photon pairs (per period) with delay in ``[nT − T/2, nT + T/2)``,
  ``G_n = ∫_0^T I(t) ∫ I(s | level 1 at t) ds dt`` (after an emission the emitter is in the
  ground state). ``g_0`` is the pulsed g2(0) (``REFERENCES.md``: central peak area / mean
  side-peak area); ``g_n → 1`` for large ``n`` without blinking.

The integrals over the emission phase ``t`` use Gauss–Legendre quadrature on sub-intervals
between the kinks (pulse edges seen from ``t``, ``t + a``, ``t + b``), inside which the
integrand is analytic, so the results are exact to ~1e-12. Short pulses (``w ≪ 1/k21``) with
``k23 = 0`` give at most one photon per pulse: ``g_0 → 0``, ``N_pp → qe (1 − e^{−k12 w})``;
long pulses allow re-excitation within a pulse and ``g_0 > 0``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy import linalg

from qlight._numba import JIT
from qlight._validation import check_nonnegative, check_positive, check_positive_int
from qlight.errors import ParameterError
from qlight.physics.emitter import EmitterPhotophysics, ThreeLevelRates, rate_matrix
from qlight.physics.renewal import (
    DONE,
    FULL,
    P_K2,
    P_K12,
    P_K31,
    P_KOFF,
    P_KON,
    P_PD,
    P_PERIOD,
    P_PM,
    P_PUNDET,
    P_RECORD,
    P_WIDTH,
    S_BLEACHED,
    S_LEVEL,
    S_N,
    S_ON,
    S_T,
    S_TOFF,
    emit_direct,
)

__all__ = ["PulsedModel", "pulsed_kernel", "pulsed_rates"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


def pulsed_rates(
    photophysics: EmitterPhotophysics, power_w: float, rep_rate_hz: float, pulse_width_ps: float
) -> ThreeLevelRates:
    """Rates during a pulse: ``k12_peak = k12_per_ns_per_w · P_avg / (f_rep · w)``."""
    p = check_nonnegative("power_w", power_w)
    f = check_positive("rep_rate_hz", rep_rate_hz)
    w = check_positive("pulse_width_ps", pulse_width_ps)
    if w * 1e-12 * f > 1.0:
        raise ParameterError("pulse_width_ps", pulse_width_ps, "must not exceed the period")
    duty = w * 1e-12 * f
    return photophysics.rates_at(p / duty)


class PulsedModel:
    """Piecewise-constant rate model of rectangular pulses (times in ns internally).

    Parameters
    ----------
    rates_on : ThreeLevelRates
        Rates during a pulse (peak pump); outside pulses ``k12 = 0``.
    rep_rate_hz, pulse_width_ps : float
        Repetition rate and pulse width (``w <= 1/f_rep``).
    k_off_per_ns, k_on_per_ns : float
        Optional blinking rates (four-state chain of :func:`rate_matrix`).
    """

    def __init__(
        self,
        rates_on: ThreeLevelRates,
        rep_rate_hz: float,
        pulse_width_ps: float,
        *,
        k_off_per_ns: float = 0.0,
        k_on_per_ns: float = 0.0,
    ) -> None:
        self.period_ns = 1e9 / check_positive("rep_rate_hz", rep_rate_hz)
        self.width_ns = check_positive("pulse_width_ps", pulse_width_ps) * 1e-3
        if self.width_ns > self.period_ns * (1.0 + 1e-12):
            raise ParameterError("pulse_width_ps", pulse_width_ps, "must not exceed the period")
        rates_off = ThreeLevelRates(
            0.0, rates_on.k21_per_ns, rates_on.k23_per_ns, rates_on.k31_per_ns, rates_on.qe
        )
        blink = {"k_off_per_ns": k_off_per_ns, "k_on_per_ns": k_on_per_ns}
        self._q = (rate_matrix(rates_off, **blink), rate_matrix(rates_on, **blink))
        n = self._q[0].shape[0]
        self._emit = np.zeros(n)
        self._emit[1] = rates_on.qe * rates_on.k21_per_ns
        self._aug = []
        for q in self._q:
            a = np.zeros((n + 1, n + 1))
            a[:n, :n] = q
            a[n, :n] = self._emit
            self._aug.append(a)
        self.n_levels = n

    def propagate(
        self, p: NDArray[np.float64], t0: float, t1: float
    ) -> tuple[NDArray[np.float64], float]:
        """State at ``t1`` (ns) from ``p`` at ``t0`` and the photons emitted in between.

        Exact: products of ``exp(A Δt)`` over the constant pieces, with the augmented matrix
        ``A = [[Q, 0], [e, 0]]`` whose last row accumulates ``∫ qe k21 p2 dt``.
        """
        period, w = self.period_ns, self.width_ns
        k0, k1 = int(np.floor(t0 / period)), int(np.ceil(t1 / period))
        edges = [k * period + d for k in range(k0, k1 + 1) for d in (0.0, w)]
        pts = [t0, *sorted(e for e in edges if t0 < e < t1), t1]
        x = np.concatenate([p, [0.0]])
        for lo, hi in itertools.pairwise(pts):
            if hi <= lo:
                continue
            mid = 0.5 * (lo + hi)
            on = mid - np.floor(mid / period) * period < w
            x = linalg.expm(self._aug[int(on)] * (hi - lo)) @ x
        return x[: self.n_levels], float(x[self.n_levels])

    def periodic_state(self) -> NDArray[np.float64]:
        """Populations at the start of a pulse in the periodic steady state."""
        u = linalg.expm(self._q[0] * (self.period_ns - self.width_ns)) @ linalg.expm(
            self._q[1] * self.width_ns
        )
        n = self.n_levels
        a = np.vstack([u - np.eye(n), np.ones((1, n))])
        rhs = np.zeros(n + 1)
        rhs[-1] = 1.0
        p, *_ = np.linalg.lstsq(a, rhs, rcond=None)
        return np.asarray(p, dtype=np.float64)

    def emission_per_pulse(self) -> float:
        """Mean photons emitted per pulse period in the periodic steady state."""
        _, n_pp = self.propagate(self.periodic_state(), 0.0, self.period_ns)
        return n_pp

    def _pairs(self, a: float, b: float, p0: NDArray[np.float64]) -> float:
        """Mean pairs per period with delay in ``[a, b)`` ns (a >= 0)."""
        period, w = self.period_ns, self.width_ns
        cuts = {0.0, w, period}
        for d in (a, b):
            for edge in (0.0, w):
                cuts.add(float((edge - d) % period))
        knots = np.array(sorted(c for c in cuts if 0.0 <= c <= period))
        reset = np.zeros(self.n_levels)
        reset[0] = 1.0
        total = 0.0
        for lo, hi in itertools.pairwise(knots):
            if hi - lo < 1e-14:
                continue
            for x, wt in zip(_GL_X, _GL_W, strict=True):
                t = 0.5 * (lo + hi) + 0.5 * (hi - lo) * x
                p_t, _ = self.propagate(p0, 0.0, t)
                intensity = float(self._emit @ p_t)
                q_a, _ = self.propagate(reset, t, t + a)
                _, inner = self.propagate(q_a, t + a, t + b)
                total += 0.5 * (hi - lo) * wt * intensity * inner
        return total

    def peak_areas(self, n_peaks: int = 3) -> NDArray[np.float64]:
        """Normalized areas ``g_n`` (n = 0 … n_peaks) of the pulsed g2 peaks (see module)."""
        check_positive_int("n_peaks", n_peaks)
        p0 = self.periodic_state()
        n_pp = self.emission_per_pulse()
        period = self.period_ns
        out = [2.0 * self._pairs(0.0, 0.5 * period, p0)]
        for k in range(1, n_peaks + 1):
            out.append(self._pairs((k - 0.5) * period, (k + 0.5) * period, p0))
        return np.asarray(out, dtype=np.float64) / n_pp**2


@njit(**JIT)  # type: ignore[untyped-decorator]
def pulsed_kernel(
    rng: np.random.Generator,
    par: NDArray[np.float64],
    st: NDArray[np.float64],
    out: NDArray[np.float64],
    t_end: float,
) -> int:
    """Gillespie simulation with rectangular pump pulses.

    Level 1 is left only by the pump, so the excitation happens when the pump-on time
    accumulated since entering level 1 reaches an ``Exp(k12)`` draw: whole pulses that do not
    excite are skipped at once (``m = floor(x / w)`` of them: geometric, ``P = e^{−k12 w}``
    each) and the excitation time inside the exciting pulse is the remainder (a truncated
    exponential) — one exponential draw per excitation.
    """
    k12, k2, k31 = par[P_K12], par[P_K2], par[P_K31]
    p_det, p_und, p_meta = par[P_PD], par[P_PUNDET], par[P_PM]
    period, width = par[P_PERIOD], par[P_WIDTH]
    inv_period, inv_width = 1.0 / period, 1.0 / width
    k_off, k_on = par[P_KOFF], par[P_KON]
    record = par[P_RECORD] > 0.0
    cap = out.size
    t, t_off, level, n = st[S_T], st[S_TOFF], int(st[S_LEVEL]), int(st[S_N])
    while st[S_BLEACHED] == 0.0 and t < t_end:
        if st[S_ON] == 0.0:
            t += rng.standard_exponential() / k_on
            if t >= t_end:
                break
            st[S_ON] = 1.0
            level = 1
            t_off = t + rng.standard_exponential() / k_off if k_off > 0.0 else np.inf
            continue
        if record and n >= cap:
            st[S_T], st[S_TOFF], st[S_LEVEL], st[S_N] = t, t_off, float(level), float(n)
            return FULL
        t_lim = min(t_off, t_end)
        if level == 1:
            t_next = np.inf
            if k12 > 0.0:
                k = math.floor(t * inv_period)
                remaining = max(0.0, width - (t - k * period))  # pump-on time left now
                x = rng.standard_exponential() / k12  # pump-on time needed to excite
                if x < remaining:
                    t_next = t + x
                else:
                    x -= remaining
                    m = math.floor(x * inv_width)
                    t_next = (k + 1 + m) * period + (x - m * width)
        elif level == 2:
            t_next = t + rng.standard_exponential() / k2
        else:
            t_next = t + rng.standard_exponential() / k31
        if t_next >= t_lim:
            t = t_lim
            if t_off < t_end:
                st[S_ON] = 0.0
            continue
        t = t_next
        if level == 2:
            u = rng.random()
            level = 1
            if u < p_det + p_und:
                if u < p_det and record:
                    out[n] = t
                    n += 1
                if emit_direct(st, t):
                    break
            elif u < p_det + p_und + p_meta:
                level = 3
        else:
            level = 2 if level == 1 else 1
    st[S_T], st[S_TOFF], st[S_LEVEL], st[S_N] = t, t_off, float(level), float(n)
    return DONE
