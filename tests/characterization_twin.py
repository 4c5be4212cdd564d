"""Known-truth HBT data for the characterization tests, coverage run and benchmark.

Data come from :func:`qlight.physics.hbt.simulate_hbt`; the truths are the closed forms of
the three-level model (:mod:`qlight.physics.emitter`), so a test can check that an interval
contains them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from qlight.physics.detectors import FWHM_PER_SIGMA, SI_SPAD, SPADModel
from qlight.physics.emitter import EmitterPhotophysics, g2_with_background, g2_with_jitter
from qlight.physics.hbt import (
    Excitation,
    HBTSetup,
    HBTTags,
    PhotonSource,
    count_rates_expected,
    simulate_hbt,
)

JITTER_FWHM_PS = 350.0
K12_PER_NS_PER_W = 1.0e3  # k12 = 1/ns at 1 mW
PHOTOPHYSICS = EmitterPhotophysics(K12_PER_NS_PER_W, 0.5, 0.02, 0.01, qe=0.8)
ETA = 0.02
BACKGROUND_CPS = 2000.0


def detector(dead_time_ps: int = 1000) -> SPADModel:
    """The visible SPAD without dark counts or afterpulsing and with a short dead time."""
    return dataclasses.replace(
        SI_SPAD,
        dark_cps=0.0,
        afterpulse_prob=0.0,
        dead_time_ps=dead_time_ps,
        jitter_fwhm_ps=JITTER_FWHM_PS,
    )


def setup(background_cps: float = BACKGROUND_CPS) -> HBTSetup:
    """Two identical detectors, 50:50, constant background per detector."""
    return HBTSetup((detector(), detector()), background_cps=background_cps)


def irf_sigma_ps() -> float:
    """Combined timing response of the two detectors, √2 · FWHM / 2.355."""
    return math.sqrt(2.0) * JITTER_FWHM_PS / FWHM_PER_SIGMA


def simulate_cw(
    power_w: float, duration_s: float, seed: int, background_cps: float = BACKGROUND_CPS
) -> HBTTags:
    """One CW acquisition of the reference emitter."""
    src = PhotonSource(PHOTOPHYSICS, ETA)
    return simulate_hbt(
        [src], Excitation(power_w), setup(background_cps), duration_s, np.random.default_rng(seed)
    )


def rho_true(power_w: float, background_cps: float = BACKGROUND_CPS) -> float:
    """S/(S+B) per detector (equal detectors): 1 − B/(S+B) from the closed-form rates."""
    src = PhotonSource(PHOTOPHYSICS, ETA)
    r0, _ = count_rates_expected([src], Excitation(power_w), setup(background_cps))
    return 1.0 - background_cps / r0


def g2_raw_true(power_w: float, background_cps: float = BACKGROUND_CPS) -> float:
    """Exact measured g2(0): three-level g2 with the combined IRF and the background."""
    g = g2_with_jitter(0.0, PHOTOPHYSICS.rates_at(power_w), irf_sigma_ps())
    return float(g2_with_background(g, rho_true(power_w, background_cps)))


def saturation_truth() -> tuple[float, float]:
    """Detected-photon ``(I∞ 1/s, P_sat W)`` of the three-level model.

    ``I = η qe k21 p2·1e9`` with ``p2 = k12/(k12(1 + k23/k31) + k21 + k23)`` gives
    ``I∞ = η qe k21·1e9/(1 + k23/k31)`` and ``P_sat = (k21 + k23)/(k12/P · (1 + k23/k31))``.
    """
    ph = PHOTOPHYSICS
    f = 1.0 + ph.k23_per_ns / ph.k31_per_ns
    i_inf = ETA * ph.qe * ph.k21_per_ns * 1e9 / f
    p_sat = (ph.k21_per_ns + ph.k23_per_ns) / (ph.k12_per_ns_per_w * f)
    return i_inf, p_sat


def lifetime_truth_ns() -> float:
    """Decay time of level 2 after a pulse, ``1/(k21 + k23)``."""
    return 1.0 / (PHOTOPHYSICS.k21_per_ns + PHOTOPHYSICS.k23_per_ns)


REP_RATE_HZ = 20e6


def simulate_pulsed(power_w: float, duration_s: float, seed: int) -> HBTTags:
    """One pulsed acquisition (20 MHz, 50 ps pulses) of the reference emitter, no background."""
    src = PhotonSource(PHOTOPHYSICS, ETA)
    exc = Excitation(power_w, rep_rate_hz=REP_RATE_HZ, pulse_width_ps=50.0)
    return simulate_hbt([src], exc, setup(0.0), duration_s, np.random.default_rng(seed))


def sync_tags(tags: HBTTags) -> np.ndarray:
    """Laser sync tags ``k · period`` over the acquisition."""
    period = tags.sync_period_ps
    assert period is not None
    return np.round(np.arange(0.0, tags.duration_ps, period)).astype(np.int64)


SAT_POWERS_W = np.array([0.03, 0.06, 0.1, 0.17, 0.3, 0.5, 1.0, 2.0]) * 1e-3
SAT_BACKGROUND_CPS_PER_W = 5e7  # per detector: linear background 1e8 /s/W in total


def simulate_saturation(seed: int, duration_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both detectors at each power of :data:`SAT_POWERS_W` (1 ps dead time, so
    that the registered rate is the three-level rate plus the linear background)."""
    rng = np.random.default_rng(seed)
    hbt = HBTSetup((detector(1), detector(1)), background_cps_per_w=SAT_BACKGROUND_CPS_PER_W)
    counts = []
    for p in SAT_POWERS_W:
        tags = simulate_hbt([PhotonSource(PHOTOPHYSICS, ETA)], Excitation(float(p)), hbt,
                            duration_s, rng)  # fmt: skip
        counts.append(sum(int(t.size) for t in tags.t_ps))
    return SAT_POWERS_W.copy(), np.asarray(counts, dtype=np.int64)


def coverage_trial(seed: int) -> dict[str, bool]:
    """One seed of the coverage study: does each 95 % interval contain the twin's truth?"""
    from qlight.characterization.g2fit import fit_g2_cw
    from qlight.characterization.lifetime import fit_lifetime
    from qlight.characterization.saturation import fit_saturation
    from qlight.characterization.uncertainty import Estimate, Result
    from qlight.timetags.g2 import g2_cw
    from qlight.timetags.lifetime import lifetime_histogram_t2

    def hit(r: Result, truth: float) -> bool:
        return isinstance(r, Estimate) and r.contains(truth)

    power = 1e-3
    cw = simulate_cw(power, 0.5, seed)
    h = g2_cw(cw.t_ps[0], cw.t_ps[1], window_ps=150_000, bin_ps=300, duration_ps=cw.duration_ps)
    g2 = fit_g2_cw(h, irf_sigma_ps=irf_sigma_ps(), rho=rho_true(power))
    pl = simulate_pulsed(2e-3, 0.05, seed + 1_000_000)
    merged = np.sort(np.concatenate(pl.t_ps))
    lh = lifetime_histogram_t2(sync_tags(pl), merged, bin_ps=50, range_ps=50_000)
    life = fit_lifetime(lh, period_ps=pl.sync_period_ps)
    p, n = simulate_saturation(seed + 2_000_000)
    sat = fit_saturation(p, n, 0.01)
    i_inf, p_sat = saturation_truth()
    return {
        "g2_0_raw": hit(g2.g2_0_raw, g2_raw_true(power)),
        "lifetime_ns": hit(life.lifetime_ns, lifetime_truth_ns()),
        "i_inf": hit(sat.i_inf_per_s, i_inf),
        "p_sat": hit(sat.p_sat_w, p_sat),
    }
