"""Exact photon-stream generation: interval law, rates, bleaching, blinking, pulsed peaks."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
from scipy import stats
from tests.naive import stream_gillespie, stream_interval_cdf, stream_pair_histogram

from qlight.errors import ParameterError
from qlight.physics.emitter import Blinking, EmitterPhotophysics
from qlight.physics.photons import generate_arrivals
from qlight.physics.pulsed import PulsedModel, pulsed_rates

ALPHA = 1e3  # k12_per_ns_per_w of every test emitter: k12 [1/ns] = 1e3 · P [W]

# (k12, k21, k23, k31, qe, eta): shelving half the exits (branch-free path), two-level,
# complex eigenvalues with many shelving excursions per photon (Gamma path), tiny η.
CASES = [
    (0.3, 0.5, 0.02, 0.01, 0.8, 0.05),
    (0.7, 0.4, 0.0, 0.05, 1.0, 0.1),
    (5.0, 0.5, 3.0, 2.0, 1.0, 0.2),
    (1.0, 0.5, 0.001, 0.01, 0.9, 0.002),
]


def _emitter(case: tuple[float, ...], **kw: object) -> tuple[EmitterPhotophysics, float, float]:
    k12, k21, k23, k31, qe, eta = case
    return EmitterPhotophysics(ALPHA, k21, k23, k31, qe, **kw), k12 / ALPHA, eta  # type: ignore[arg-type]


def _interval_moments(case: tuple[float, ...]) -> tuple[float, float]:
    """Mean and variance (ps, ps²) of the phase-type interval: E[T^k] = k! α(−S)^{−k}1."""
    k12, k21, k23, k31, qe, eta = case
    s = np.array([[-k12, k21 * (1 - qe * eta), k31], [k12, -(k21 + k23), 0.0], [0.0, k23, -k31]])
    inv = np.linalg.inv(-s)
    m1 = inv.sum(axis=0)[0]
    m2 = 2 * (inv @ inv).sum(axis=0)[0]
    return m1 * 1e3, (m2 - m1 * m1) * 1e6


@pytest.mark.parametrize("mode", ["fast", "counting"])
@pytest.mark.parametrize("case", CASES)
def test_interval_law_chi2(case: tuple[float, ...], mode: str) -> None:
    ph, power, eta = _emitter(case)
    mean_ps, _ = _interval_moments(case)
    n_target = 20_000
    arr = generate_arrivals(
        ph,
        power,
        eta,
        n_target * mean_ps,
        np.random.default_rng(11),
        mode=mode,  # type: ignore[arg-type]
    )
    d = np.diff(arr.t_ps)
    # 40 equiprobable bins of the exact CDF (inverted on a log grid); χ², 39 dof
    grid = np.geomspace(1.0, 60 * mean_ps, 600)
    cdf = np.asarray(stream_interval_cdf(grid, *case))
    edges = np.interp(np.linspace(0, 1, 41)[1:-1], cdf, grid)
    probs = np.diff(np.concatenate([[0.0], stream_interval_cdf(edges, *case), [1.0]]))
    observed = np.bincount(np.searchsorted(edges, d), minlength=40)
    expected = probs * d.size
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    assert stats.chi2.sf(chi2, 39) > 1e-3, chi2


@pytest.mark.parametrize("case", CASES[:3])
def test_count_rate_on_saturation_curve(case: tuple[float, ...]) -> None:
    ph, _, eta = _emitter(case)
    _, p_sat = ph.saturation()
    rng = np.random.default_rng(5)
    for power in (0.3 * p_sat, p_sat, 4 * p_sat):
        c = (power * ALPHA, *case[1:])
        mean_ps, var_ps = _interval_moments(c)
        dur = 3e4 * mean_ps
        n = generate_arrivals(ph, power, eta, dur, rng).t_ps.size
        expected = eta * ph.emission_rate_at(power) * dur * 1e-12
        # renewal process: Var N ≈ (T/μ) CV² (CV² = var/μ²); 5 standard errors
        sigma = math.sqrt(dur / mean_ps * var_ps / mean_ps**2)
        assert abs(n - expected) < 5 * sigma
        assert 1e12 / mean_ps == pytest.approx(eta * ph.emission_rate_at(power), rel=1e-9)


def test_emitted_photons_counting_and_fast() -> None:
    case = CASES[0]
    ph, power, eta = _emitter(case)
    dur = 2e11
    em_case = (*case[:5], 1.0)  # the emission process itself: the η = 1 interval law
    mean_ps, var_ps = _interval_moments(em_case)
    sigma = math.sqrt(dur / mean_ps * var_ps / mean_ps**2)
    expected = ph.emission_rate_at(power) * dur * 1e-12
    modes: tuple[Literal["counting"], Literal["fast"]] = ("counting", "fast")
    for mode in modes:
        arr = generate_arrivals(ph, power, eta, dur, np.random.default_rng(3), mode=mode)
        # Var(E) = Var of the emission count plus the binomial split: bounded by 2 σ² here
        assert abs(arr.emitted_photons - expected) < 5 * math.sqrt(2) * sigma
        assert arr.emitted_photons > arr.t_ps.size


def test_bleaching_matches_gillespie() -> None:
    k12, k21, k23, k31, qe, eta = 0.4, 0.5, 0.05, 0.02, 0.7, 0.2
    budget = 40.5  # bleaches after the 41st emitted photon
    ph = EmitterPhotophysics(ALPHA, k21, k23, k31, qe)
    rng = np.random.default_rng(2)
    t_fast, n_det = [], []
    for _ in range(300):
        arr = generate_arrivals(ph, k12 / ALPHA, eta, 1e9, rng, remaining_budget=budget)
        assert arr.bleached
        assert arr.emitted_photons == 41
        assert arr.t_ps.size == 0 or arr.t_ps[-1] <= arr.bleach_time_ps
        t_fast.append(arr.bleach_time_ps)
        n_det.append(arr.t_ps.size)
    t_ref = [
        stream_gillespie(k12, k21, k23, k31, qe, eta, 1e9, seed, budget=budget)[2]
        for seed in range(300)
    ]
    assert stats.ks_2samp(t_fast, t_ref).pvalue > 1e-3
    # detected photons ~ Binomial(41, η): mean within 5 standard errors of 300 runs
    assert abs(np.mean(n_det) - 41 * eta) < 5 * math.sqrt(41 * eta * (1 - eta) / 300)


def test_blinking_and_bleaching_match_gillespie() -> None:
    k12, k21, k23, k31, qe, eta = 0.4, 0.5, 0.05, 0.02, 0.7, 0.3
    blink = Blinking(off_rate_per_s_per_w=0.0, off_rate_per_s=2e6, on_rate_per_s=3e6)
    ph = EmitterPhotophysics(ALPHA, k21, k23, k31, qe, blinking=blink)
    rng = np.random.default_rng(4)
    budget = 30.0
    fast = [
        generate_arrivals(
            ph, k12 / ALPHA, eta, 1e9, rng, remaining_budget=budget, blink_on=True
        ).bleach_time_ps
        for _ in range(300)
    ]
    ref = [
        stream_gillespie(
            k12, k21, k23, k31, qe, eta, 1e9, seed, k_off=2e-3, k_on=3e-3, budget=budget
        )[2]
        for seed in range(300)
    ]
    # the generator starts in the stationary level mix, the oracle in level 1: a < 1 ns
    # shift against bleach times of ~2 µs, far below the KS resolution at n = 300
    assert stats.ks_2samp(fast, ref).pvalue > 1e-3


@pytest.mark.parametrize("blinking", [False, True])
def test_replayed_intervals_match_gillespie(blinking: bool) -> None:
    # η = 0.005: ~200 emissions per detected photon, so the budget of 30 photons (and the
    # blink-offs, and the end of the acquisition) always fall inside a drawn interval and
    # everything observed comes from the cycle-by-cycle replay of that interval.
    k12, k21, k23, k31, qe, eta = 0.4, 0.5, 0.05, 0.02, 0.7, 0.005
    k_off, k_on = (5e-3, 4e-3) if blinking else (0.0, 1.0)
    blink = Blinking(0.0, k_off * 1e9, k_on * 1e9) if blinking else None
    ph = EmitterPhotophysics(ALPHA, k21, k23, k31, qe, blinking=blink)
    rng = np.random.default_rng(6)
    power = k12 / ALPHA
    fast = [
        generate_arrivals(ph, power, eta, 1e9, rng, remaining_budget=30, blink_on=True)
        for _ in range(400)
    ]
    ref = [
        stream_gillespie(k12, k21, k23, k31, qe, eta, 1e9, s, k_off=k_off, k_on=k_on, budget=30)
        for s in range(400)
    ]
    assert all(a.emitted_photons == 30 and a.bleached for a in fast)
    assert stats.ks_2samp([a.bleach_time_ps for a in fast], [r[2] for r in ref]).pvalue > 1e-3
    # emitted photons in a 150 ns acquisition: ends inside an interval (replayed to its end)
    short = [
        generate_arrivals(ph, power, eta, 1.5e5, rng, blink_on=True, mode="counting")
        for _ in range(400)
    ]
    e_fast = np.array([a.emitted_photons for a in short], dtype=float)
    e_ref = np.array(
        [
            stream_gillespie(k12, k21, k23, k31, qe, eta, 1.5e5, s, k_off=k_off, k_on=k_on)[1]
            for s in range(1000, 1400)
        ],
        dtype=float,
    )
    se = math.sqrt(e_fast.var() / e_fast.size + e_ref.var() / e_ref.size)
    assert abs(e_fast.mean() - e_ref.mean()) < 5 * se


def test_blinking_interval_law_matches_gillespie() -> None:
    k12, k21, k23, k31, qe, eta = 0.3, 0.5, 0.02, 0.05, 0.8, 0.3
    blink = Blinking(off_rate_per_s_per_w=1e8, off_rate_per_s=5e4, on_rate_per_s=2e5)
    ph = EmitterPhotophysics(ALPHA, k21, k23, k31, qe, blinking=blink)
    power = k12 / ALPHA
    k_off, k_on = (r * 1e-9 for r in blink.rates_per_s(power))
    rng = np.random.default_rng(8)
    d_fast = np.diff(generate_arrivals(ph, power, eta, 5e10, rng, blink_on=True).t_ps)
    t_ref, _, _ = stream_gillespie(k12, k21, k23, k31, qe, eta, 1e10, 1, k_off=k_off, k_on=k_on)
    assert stats.ks_2samp(d_fast, np.diff(t_ref)).pvalue > 1e-3
    # mean detected rate with blinking: η × exact 4-state emission rate, 5 standard errors
    # (Var N ≈ N (1 + 2R ∫(g2 − 1)) ≤ N (1 + 2 R (1/p_on − 1)/(k_on + k_off)) here)
    rate = eta * ph.mean_emission_rate_at(power)
    n = d_fast.size + 1
    fano = 1 + 2 * rate * (1 / blink.on_fraction(power) - 1) / ((k_on + k_off) * 1e9)
    assert abs(n - rate * 0.05) < 5 * math.sqrt(rate * 0.05 * fano)


def test_blink_state_and_buffer_growth() -> None:
    # slow blinking: starting bright, the whole run is bright (rate 1/p_on × the mean, more
    # than the buffer estimated from the mean: the kernel resumes into a larger buffer)
    blink = Blinking(0.0, 1e-3, 1e-3)
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, 0.8, blinking=blink)
    arr = generate_arrivals(ph, 3e-4, 0.05, 1e10, np.random.default_rng(1), blink_on=True)
    assert arr.blink_on
    expected = 0.05 * ph.emission_rate_at(3e-4) * 1e-2
    assert arr.t_ps.size == pytest.approx(expected, rel=0.05)
    assert np.all(np.diff(arr.t_ps) > 0)
    dark = generate_arrivals(ph, 3e-4, 0.05, 1e10, np.random.default_rng(1), blink_on=False)
    assert dark.t_ps.size == 0
    assert not dark.blink_on


def test_no_detection_still_consumes_budget() -> None:
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, 0.8)
    arr = generate_arrivals(ph, 3e-4, 0.0, 1e9, np.random.default_rng(1), remaining_budget=100)
    assert arr.t_ps.size == 0
    assert arr.bleached
    assert arr.emitted_photons == 100
    zero = generate_arrivals(ph, 0.0, 0.5, 1e9, np.random.default_rng(1))
    assert zero.t_ps.size == 0
    assert zero.emitted_photons == 0
    gone = generate_arrivals(ph, 3e-4, 0.5, 1e9, np.random.default_rng(1), remaining_budget=0.0)
    assert gone.bleached
    assert gone.t_ps.size == 0
    # a fractional remainder still allows its ceil: one more photon
    last = generate_arrivals(ph, 3e-4, 0.5, 1e9, np.random.default_rng(1), remaining_budget=0.3)
    assert last.bleached
    assert last.emitted_photons == 1


@pytest.mark.parametrize("mode", ["fast", "counting"])
def test_seeds_reproduce(mode: str) -> None:
    blink = Blinking(1e8, 1e4, 5e4)
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01, 0.8, blinking=blink)

    def run(seed: int) -> np.ndarray:
        return generate_arrivals(ph, 3e-4, 0.05, 1e9, np.random.default_rng(seed), mode=mode).t_ps  # type: ignore[arg-type]

    a, b, c = run(42), run(42), run(43)
    np.testing.assert_array_equal(a, b)
    assert a.size != c.size or not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("width_ps", "k12_peak"),
    [(1000.0, 2.0), (50.0, 30.0)],
)
def test_pulsed_peak_areas_from_stream(width_ps: float, k12_peak: float) -> None:
    f_rep, eta = 80e6, 0.3
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.05, 0.8)
    power = k12_peak * f_rep * width_ps * 1e-12 / ALPHA
    model = PulsedModel(pulsed_rates(ph, power, f_rep, width_ps), f_rep, width_ps)
    g = model.peak_areas(3)
    dur = 2e10
    rng = np.random.default_rng(12)
    t = generate_arrivals(ph, power, eta, dur, rng, rep_rate_hz=f_rep, pulse_width_ps=width_ps)
    t_ps = np.floor(t.t_ps).astype(np.int64)
    to_a = rng.random(t_ps.size) < 0.5
    a, b = t_ps[to_a], t_ps[~to_a]
    period = 12_500
    edges = np.arange(-3.5, 4.0) * period
    counts = np.asarray(stream_pair_histogram(a, b, edges.astype(np.int64)))
    n_periods = dur / period
    expected = a.size * b.size / n_periods * np.concatenate([g[:0:-1], g])
    # pair counts ≈ Poisson; 7 windows, normalisation N1·N2/N_periods from the data
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert stats.chi2.sf(chi2, 7) > 1e-3, (counts, expected)
    # mean detected rate: η · N_pp · f_rep (5 Poisson standard errors, sub-Poissonian source)
    n_exp = eta * model.emission_per_pulse() * n_periods
    assert abs(t.t_ps.size - n_exp) < 5 * math.sqrt(n_exp)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"power_w": -1.0}, "power_w"),
        ({"eta": 1.5}, "eta"),
        ({"duration_ps": 0.0}, "duration_ps"),
        ({"duration_ps": math.nan}, "duration_ps"),
        ({"remaining_budget": -1.0}, "remaining_budget"),
        ({"remaining_budget": 10.0, "mode": "fast"}, "mode"),
        ({"mode": "slow"}, "mode"),
        ({"rep_rate_hz": 1e9, "pulse_width_ps": 2000.0}, "pulse_width_ps"),
    ],
)
def test_bad_parameters_name_themselves(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"power_w": 1e-4, "eta": 0.1, "duration_ps": 1e6}
    args.update(kwargs)
    ph = EmitterPhotophysics(ALPHA, 0.5, 0.02, 0.01)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        generate_arrivals(ph, rng=np.random.default_rng(0), **args)  # type: ignore[arg-type]
