"""Exact stochastic generation of detected-photon arrival times from the emitter model.

CW (renewal) generator
----------------------
After every emission the emitter is in the ground state, so detection times form a renewal
process (independent thinning by the detection probability η keeps it one). Per visit to
level 2 the outcome is a detected photon (``pD = qe k21 η / K2``, ``K2 = k21 + k23``), the
shelving level (``pM = k23 / K2``) or "other" (``pO``: back to 1 with an undetected photon or
non-radiatively). An *excursion* is the time from level 1 until a non-other exit of level 2;
it contains ``O ~ Geom0(1 − pO)`` other cycles, and its Laplace transform is
``μ1 μ2 / ((s + μ1)(s + μ2))`` with ``μ1 + μ2 = k12 + K2``, ``μ1 μ2 = k12 K2 (1 − pO)``, i.e.
an excursion lasts exactly ``Exp(μ1) + Exp(μ2)``. The number of shelving excursions before
the detected photon is ``M ~ Geom0(pD / (pD + pM))``, independent of the durations, so

    interval = Gamma(M+1)/μ1 + Gamma(M+1)/μ2 + Gamma(M)/k31          ("fast" path)

The fast path draws it excursion by excursion without branching on the outcome: three
exponentials ``A, B, E`` per excursion, ``t += A/μ1 + B/μ2``, detection iff
``E < λ = −ln(1 − pD/(pD + pM))``, else a shelving wait ``(E − λ)/k31`` (memorylessness);
when a photon needs many excursions it draws the three Gamma sums instead. The "counting"
path keeps the number of cycles, ``N = M + 1 + O_total`` with ``O_total = Σ Geom0(1 − pO)``,
and draws ``Gamma(N)/k12 + Gamma(N)/K2 + Gamma(M)/k31``: the same law, plus the exact number
of undetected emissions ``Binomial(O_total, qe(1−η)/(1−qe η))``. It tracks the photon budget
(bleaching) exactly, resolving the binomials lazily in chunks that cannot cross the budget.
An interval cut by a blink-off, by bleaching or by the end of the acquisition is
reconstructed cycle by cycle from the drawn totals (Dirichlet splitting of each Gamma sum,
uniformly random order of the cycle types), which is exact. The kernels live in
:mod:`qlight.physics.renewal`.

Blinking is an independent telegraph clock (dark state entered from any level, left to the
ground state); bleaching stops the emitter after its ``ceil(budget)``-th emitted photon.

Pulsed generator
----------------
Exact Gillespie simulation with a pump that is on only inside the rectangular pulses
(:func:`qlight.physics.pulsed.pulsed_kernel`): level 1 is left when the accumulated pump-on
time reaches an ``Exp(k12)`` draw, so non-exciting pulses are skipped at once.

All times are float64 picoseconds; rates are converted to 1/ps here. See
``docs/twin/photophysics.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.pulsed import PulsedModel, pulsed_kernel, pulsed_rates
from qlight.physics.renewal import (
    DONE,
    N_PAR,
    N_STATE,
    P_K2,
    P_K12,
    P_K31,
    P_KOFF,
    P_KON,
    P_LAM_M,
    P_LAM_O,
    P_MU1,
    P_MU2,
    P_PD,
    P_PERIOD,
    P_PM,
    P_PO,
    P_PU,
    P_PUNDET,
    P_Q1,
    P_Q2,
    P_RECORD,
    P_WIDTH,
    S_BLEACHED,
    S_CPEND,
    S_DPEND,
    S_EDIRECT,
    S_EMITTED,
    S_KEXC,
    S_LEVEL,
    S_N,
    S_ON,
    S_RLEFT,
    S_TBLEACH,
    S_TOFF,
    cw_kernel,
)

__all__ = ["MAX_DURATION_PS", "Arrivals", "generate_arrivals"]


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Detected-photon arrivals of one source during one acquisition.

    Attributes
    ----------
    t_ps : ndarray of float64
        Sorted arrival times (ps, in ``[0, duration)``) of the photons that reach and are
        detected by one of the detectors, before jitter, dead time and tagging.
    emitted_photons : int
        Photons emitted (detected or not) during the acquisition.
    bleached : bool
        Whether the emitter bleached (exhausted its photon budget) during the acquisition.
    bleach_time_ps : float
        Time of the last emitted photon if bleached, else NaN.
    blink_on : bool
        Whether the emitter is bright at the end of the acquisition.
    """

    t_ps: NDArray[np.float64]
    emitted_photons: int
    bleached: bool
    bleach_time_ps: float
    blink_on: bool


#: Longest acquisition (ps) per call: float64 time then resolves 0.125 ps or better.
MAX_DURATION_PS = 1e15


def _cw_params(
    ph: EmitterPhotophysics, power_w: float, eta: float, record: bool
) -> NDArray[np.float64]:
    r = ph.rates_at(power_w)
    k12, k21, k23, k31, qe = (r.k12_per_ns, r.k21_per_ns, r.k23_per_ns, r.k31_per_ns, r.qe)
    k2 = k21 + k23
    p_d, p_m = qe * k21 * eta / k2, k23 / k2
    p_o = max(0.0, 1.0 - p_d - p_m)
    par = np.zeros(N_PAR)
    par[P_K12], par[P_K2], par[P_K31] = k12 * 1e-3, k2 * 1e-3, k31 * 1e-3
    par[P_PD], par[P_PM], par[P_PO] = p_d, p_m, p_o
    par[P_PU] = qe * (1.0 - eta) / (1.0 - qe * eta) if qe * eta < 1.0 else 0.0
    par[P_PUNDET] = qe * k21 * (1.0 - eta) / k2
    s, prod = (k12 + k2) * 1e-3, k12 * k2 * (p_d + p_m) * 1e-6
    mu_big = 0.5 * (s + math.sqrt(max(0.0, s * s - 4.0 * prod)))
    par[P_MU2], par[P_MU1] = mu_big, (prod / mu_big if mu_big > 0.0 else 0.0)
    par[P_LAM_M] = -math.log1p(-p_d / (p_d + p_m)) if p_m > 0.0 and p_d > 0.0 else math.inf
    par[P_LAM_O] = -math.log(p_o) if p_o > 0.0 else math.inf
    k_off, k_on = ph.blink_rates_per_ns(power_w)
    par[P_KOFF], par[P_KON] = k_off * 1e-3, k_on * 1e-3
    par[P_RECORD] = 1.0 if record else 0.0
    return par


def generate_arrivals(
    photophysics: EmitterPhotophysics,
    power_w: float,
    eta: float,
    duration_ps: float,
    rng: np.random.Generator,
    *,
    rep_rate_hz: float | None = None,
    pulse_width_ps: float = 50.0,
    remaining_budget: float = math.inf,
    blink_on: bool | None = None,
    mode: Literal["auto", "fast", "counting"] = "auto",
) -> Arrivals:
    """Generate the exact detected-photon arrival times of one emitter.

    Parameters
    ----------
    photophysics : EmitterPhotophysics
        The emitter.
    power_w : float
        Excitation power (time-averaged for pulsed excitation), W.
    eta : float
        Probability that an emitted photon is detected (collection × optics × detector).
    duration_ps : float
        Acquisition length in ps (0 < duration <= ``MAX_DURATION_PS``).
    rng : numpy.random.Generator
        Source of randomness (the only one).
    rep_rate_hz, pulse_width_ps : float
        Pulsed excitation when ``rep_rate_hz`` is given (rectangular pulses starting at
        ``t = k / rep_rate_hz``); CW otherwise.
    remaining_budget : float
        Photons the emitter may still emit; it bleaches after the ``ceil``-th (inf = never).
    blink_on : bool or None
        Bright at the start; None draws it from the stationary on-fraction.
    mode : {"auto", "fast", "counting"}
        CW algorithm: "fast" (hypoexponential intervals, exact arrival times, emitted count
        approximated for intervals cut by a blink-off or the end), "counting" (exact emitted
        count and bleaching). "auto" uses "counting" iff the budget is finite.

    Returns
    -------
    Arrivals
    """
    p = check_nonnegative("power_w", power_w)
    eta = check_fraction("eta", eta)
    dur = check_positive("duration_ps", duration_ps)
    if dur > MAX_DURATION_PS:
        raise ParameterError("duration_ps", duration_ps, f"must be <= {MAX_DURATION_PS:g}")
    budget = float(remaining_budget)
    if math.isnan(budget) or budget < 0.0:
        raise ParameterError("remaining_budget", remaining_budget, "must be >= 0 (inf = never)")
    if mode not in ("auto", "fast", "counting"):
        raise ParameterError("mode", mode, "must be 'auto', 'fast' or 'counting'")
    if mode == "fast" and math.isfinite(budget):
        raise ParameterError("mode", mode, "cannot track a finite photon budget")
    counting = mode == "counting" or (mode == "auto" and math.isfinite(budget))
    pulsed = rep_rate_hz is not None
    if rep_rate_hz is not None:
        pulsed_rates(photophysics, p, rep_rate_hz, pulse_width_ps)  # validates
    k_off, _ = photophysics.blink_rates_per_ns(p)
    if blink_on is None:
        on = photophysics.blinking is None or rng.random() < photophysics.blinking.on_fraction(p)
    else:
        on = bool(blink_on)
    empty = np.zeros(0, dtype=np.float64)
    if budget <= 0.0:
        return Arrivals(empty, 0, True, 0.0, on)
    record = eta * photophysics.qe > 0.0
    if p == 0.0 or photophysics.qe == 0.0:
        return Arrivals(empty, 0, False, math.nan, on)
    par = _cw_params(photophysics, p, eta if record else 1.0, record)
    st = np.zeros(N_STATE)
    st[S_ON] = 1.0 if on else 0.0
    st[S_TOFF] = rng.standard_exponential() / par[P_KOFF] if k_off > 0.0 and on else math.inf
    st[S_RLEFT] = math.ceil(budget) if math.isfinite(budget) else math.inf
    if rep_rate_hz is not None:
        rates_on = pulsed_rates(photophysics, p, rep_rate_hz, pulse_width_ps)
        model = PulsedModel(rates_on, rep_rate_hz, pulse_width_ps)
        par[P_K12] = rates_on.k12_per_ns * 1e-3
        par[P_PERIOD], par[P_WIDTH] = model.period_ns * 1e3, model.width_ns * 1e3
        pop = np.clip(model.periodic_state(), 0.0, None)
        st[S_LEVEL] = 1.0 + float(rng.choice(3, p=pop / pop.sum()))
    else:
        pop = photophysics.level_populations_at(p)[:3]
        par[P_Q1], par[P_Q2] = pop[0] / pop.sum(), pop[1] / pop.sum()
    mean_n = eta * photophysics.mean_emission_rate_at(p) * dur * 1e-12
    out = np.empty(int(mean_n + 6.0 * math.sqrt(mean_n) + 64) if record else 0, dtype=np.float64)
    while True:
        if pulsed:
            status = pulsed_kernel(rng, par, st, out, dur)
        else:
            status = cw_kernel(rng, par, st, out, dur, counting)
        if status == DONE:
            break
        grown = np.empty(int(out.size * 1.5) + 1024, dtype=np.float64)
        grown[: out.size] = out
        out = grown
    emitted = st[S_EMITTED] + st[S_EDIRECT] + st[S_DPEND]
    if not pulsed:
        if counting and st[S_CPEND] > 0 and par[P_PU] > 0.0:
            emitted += rng.binomial(int(st[S_CPEND]), par[P_PU])
        elif not counting and st[S_KEXC] > 0 and par[P_PO] > 0.0 and par[P_PU] > 0.0:
            others = rng.negative_binomial(int(st[S_KEXC]), 1.0 - par[P_PO])
            emitted += rng.binomial(others, par[P_PU])
    bleached = bool(st[S_BLEACHED] > 0.0)
    return Arrivals(
        out[: int(st[S_N])],
        int(emitted),
        bleached,
        float(st[S_TBLEACH]) if bleached else math.nan,
        bool(st[S_ON] > 0.0),
    )
