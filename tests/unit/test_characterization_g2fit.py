"""CW and pulsed g2 fits: model against the physics module and an oracle, twin data, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tests import naive
from tests.characterization_twin import g2_raw_true, irf_sigma_ps, rho_true, simulate_cw

from qlight.characterization.g2fit import (
    exp_conv_gauss,
    fit_g2_cw,
    g2_model_cw,
    g2_pulsed_areas,
    rho_from_rates,
)
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.physics.emitter import ThreeLevelRates, g2_kurtsiefer_params, g2_with_jitter
from qlight.timetags.g2 import PulsedG2, g2_cw


@pytest.mark.parametrize(
    ("tau", "tc", "sigma"), [(0.0, 0.7, 0.2), (1.5, 0.7, 0.2), (-40.0, 5.0, 0.3)]
)
def test_exp_conv_gauss_matches_quadrature(tau: float, tc: float, sigma: float) -> None:
    # Trapezoid on 20001 points over ±12σ: error ~1e-8, far below 1e-6.
    got = float(exp_conv_gauss(np.array([tau]), tc, sigma)[0])
    assert got == pytest.approx(naive.hl_exp_conv_gauss(tau, tc, sigma), abs=1e-6)


def test_exp_conv_gauss_never_overflows() -> None:
    v = exp_conv_gauss(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), 0.01, 1.0)
    assert np.all(np.isfinite(v))
    assert np.all(v >= 0.0)


def test_model_equals_the_exact_jittered_three_level_g2() -> None:
    # The fit model with the Kurtsiefer amplitudes is the physics module's g2_with_jitter.
    rates = ThreeLevelRates(1.0, 0.5, 0.02, 0.01)
    a, t1, t2 = g2_kurtsiefer_params(rates)
    tau_ns = np.linspace(-20.0, 20.0, 81)
    model = g2_model_cw(tau_ns, 1.0, 1.0 + a, t1, a, t2, 0.2)
    exact = g2_with_jitter(tau_ns * 1e3, rates, 200.0)
    np.testing.assert_allclose(model, exact, atol=1e-10)


@pytest.fixture(scope="module")
def twin_fit() -> tuple[object, float]:
    power = 1e-3
    tags = simulate_cw(power, 1.0, seed=11)
    h = g2_cw(
        tags.t_ps[0], tags.t_ps[1], window_ps=150_000, bin_ps=300, duration_ps=tags.duration_ps
    )
    return fit_g2_cw(h, irf_sigma_ps=irf_sigma_ps(), rho=rho_true(power)), power


def test_twin_g2_interval_contains_the_truth(twin_fit: tuple[object, float]) -> None:
    # Fixed seed: the 95 % profile interval must contain the exact measured g2(0)
    # (three-level g2 ⊛ the combined IRF, diluted by the known background).
    fit, power = twin_fit
    raw = fit.g2_0_raw  # type: ignore[attr-defined]
    assert isinstance(raw, Estimate)
    assert raw.contains(g2_raw_true(power))
    # The interval is a statistical one, not a vacuous one: ~1e6 coincidences give ±~0.03.
    assert 0.005 < raw.ci95[1] - raw.ci95[0] < 0.2


def test_twin_g2_antibunching_time_and_emitter_number(twin_fit: tuple[object, float]) -> None:
    from tests.characterization_twin import PHOTOPHYSICS

    fit, power = twin_fit
    _, t1, t2 = g2_kurtsiefer_params(PHOTOPHYSICS.rates_at(power))
    assert fit.tau1_ns.contains(t1)  # type: ignore[attr-defined]
    assert fit.tau2_ns.contains(t2)  # type: ignore[attr-defined]
    n_em = fit.n_emitters  # type: ignore[attr-defined]
    assert isinstance(n_em, Estimate)
    assert n_em.contains(1.0)
    # Corrected = (raw − (1 − ρ²))/ρ² exactly.
    r2 = rho_true(power) ** 2
    raw, corr = fit.g2_0_raw, fit.g2_0_corrected  # type: ignore[attr-defined]
    assert corr.value == pytest.approx((raw.value - (1 - r2)) / r2, rel=1e-12)


def test_few_coincidences_are_not_determined() -> None:
    tags = simulate_cw(1e-3, 1e-3, seed=2)
    h = g2_cw(
        tags.t_ps[0], tags.t_ps[1], window_ps=10_000, bin_ps=500, duration_ps=tags.duration_ps
    )
    fit = fit_g2_cw(h, irf_sigma_ps=200.0)
    assert isinstance(fit.g2_0_raw, Undetermined)
    assert f"{int(h.counts.sum())} coincidences" in fit.g2_0_raw.reason
    assert fit.curve.size == 0


def test_flat_g2_is_not_determined() -> None:
    # Two independent Poisson streams: g2 ≡ 1, no antibunching to fit.
    rng = np.random.default_rng(5)
    dur = 10**12
    a = np.sort(rng.integers(0, dur, 400_000))
    b = np.sort(rng.integers(0, dur, 400_000))
    h = g2_cw(a, b, window_ps=50_000, bin_ps=500, duration_ps=dur)
    fit = fit_g2_cw(h, irf_sigma_ps=200.0)
    assert isinstance(fit.g2_0_raw, Undetermined)
    assert "no antibunching" in fit.g2_0_raw.reason


def test_rho_from_rates() -> None:
    assert rho_from_rates(1000.0, 100.0) == pytest.approx(0.9)
    with pytest.raises(ParameterError, match="background_rate_per_s"):
        rho_from_rates(100.0, 200.0)


def _pulsed(c: int, sides: list[int]) -> PulsedG2:
    return PulsedG2(1.0, 0.0, c, np.asarray(sides, dtype=np.int64), 100_000, 100_000)


def test_pulsed_interval_is_clopper_pearson() -> None:
    r = g2_pulsed_areas(_pulsed(10, [100] * 8))
    assert isinstance(r, Estimate)
    assert r.value == pytest.approx(0.1)  # 10 / (800 / 8)
    ci = stats.binomtest(10, 810).proportion_ci(0.95, method="exact")
    assert r.ci95[0] == pytest.approx(8 * ci.low / (1 - ci.low), rel=1e-9)
    assert r.ci95[1] == pytest.approx(8 * ci.high / (1 - ci.high), rel=1e-9)


def test_pulsed_too_few_side_counts() -> None:
    r = g2_pulsed_areas(_pulsed(1, [1, 0, 2, 1]))
    assert isinstance(r, Undetermined)
    assert "4 side-peak" in r.reason


def test_pulsed_interval_coverage_poisson() -> None:
    # 2000 Poisson draws with g2(0) = 0.3 and side peaks of mean 50: the exact interval covers
    # at least 95 % up to binomial noise (sd = sqrt(.95·.05/2000) = 0.0049; 3.5 sd = 0.017).
    rng = np.random.default_rng(9)
    hit = 0
    for _ in range(2000):
        sides = rng.poisson(50.0, 8)
        c = int(rng.poisson(15.0))
        r = g2_pulsed_areas(_pulsed(c, sides.tolist()))
        assert isinstance(r, Estimate)
        hit += r.contains(0.3)
    assert hit / 2000 >= 0.95 - 0.017


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 500), st.lists(st.integers(0, 300), min_size=2, max_size=10))
def test_pulsed_interval_brackets_the_value(c: int, sides: list[int]) -> None:
    r = g2_pulsed_areas(_pulsed(c, sides))
    if sum(sides) < 10:
        assert isinstance(r, Undetermined)
    else:
        assert isinstance(r, Estimate)
        assert r.ci95[0] <= r.value <= r.ci95[1]
        assert r.ci95[0] >= 0.0
        assert not math.isnan(r.ci95[1])
