"""Saturation fit and the power-stepping plan."""

from __future__ import annotations

import numpy as np
import pytest
from tests.characterization_twin import ETA, PHOTOPHYSICS, saturation_truth

from qlight.characterization.saturation import fit_saturation, measure_saturation
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.instruments.protocols import CountRates
from qlight.physics.emitter import saturation_curve

POWERS_W = np.array([0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5, 4.0]) * 1e-3


def test_closed_form_truth_is_the_three_level_rate() -> None:
    i_inf, p_sat = saturation_truth()
    for p in POWERS_W:
        exact = ETA * PHOTOPHYSICS.emission_rate_at(p)
        assert float(saturation_curve(p, i_inf, p_sat)) == pytest.approx(exact, rel=1e-12)


def test_fit_contains_truth_on_poisson_counts() -> None:
    i_inf, p_sat = saturation_truth()
    c = 2e8  # background slope, 1/s/W
    mu = saturation_curve(POWERS_W, i_inf, p_sat, c) * 0.01
    counts = np.random.default_rng(1).poisson(mu)
    fit = fit_saturation(POWERS_W, counts, 0.01)
    assert isinstance(fit.i_inf_per_s, Estimate)
    assert fit.i_inf_per_s.contains(i_inf)
    assert isinstance(fit.p_sat_w, Estimate)
    assert fit.p_sat_w.contains(p_sat)
    assert isinstance(fit.background_per_s_per_w, Estimate)
    assert fit.background_per_s_per_w.contains(c)


def test_powers_far_below_saturation_leave_i_inf_open() -> None:
    # Linear regime only (P ≤ P_sat/20): I∞ and P_sat are not separately determined.
    i_inf, p_sat = saturation_truth()
    p = np.linspace(0.01, 0.05, 6) * p_sat
    counts = np.random.default_rng(2).poisson(saturation_curve(p, i_inf, p_sat) * 0.01)
    fit = fit_saturation(p, counts, 0.01)
    assert isinstance(fit.i_inf_per_s, Undetermined) or isinstance(fit.p_sat_w, Undetermined)


def test_too_few_counts() -> None:
    fit = fit_saturation(POWERS_W[:5], [1, 2, 3, 1, 2], 1.0)
    assert isinstance(fit.i_inf_per_s, Undetermined)
    assert "9 counts" in fit.i_inf_per_s.reason


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="power_w"):
        fit_saturation([0.0, 1, 2, 3], [1, 2, 3, 4], 1.0)
    with pytest.raises(ParameterError, match="counts"):
        fit_saturation([1.0, 2, 3, 4], [1, 2, 3], 1.0)


class _Laser:
    def __init__(self) -> None:
        self.power_w = 0.0
        self.is_on = False

    def on(self) -> None:
        self.is_on = True

    def set_power(self, power_w: float) -> None:
        self.power_w = power_w


class _Tagger:
    def __init__(self, laser: _Laser) -> None:
        self.laser = laser
        self.rng = np.random.default_rng(3)

    def count_rates(self, duration_s: float) -> CountRates:
        i_inf, p_sat = saturation_truth()
        mu = float(saturation_curve(self.laser.power_w, i_inf, p_sat)) * duration_s * 0.5
        return CountRates((int(self.rng.poisson(mu)), int(self.rng.poisson(mu))), duration_s)


def test_plan_steps_the_laser_and_reads_the_tagger() -> None:
    laser = _Laser()
    series = measure_saturation(laser, _Tagger(laser), list(POWERS_W), 0.01)  # type: ignore[arg-type]
    assert laser.is_on
    assert laser.power_w == POWERS_W[-1]
    np.testing.assert_array_equal(series.power_w, POWERS_W)
    fit = fit_saturation(series.power_w, series.counts, series.duration_s)
    _i_inf, p_sat = saturation_truth()
    assert isinstance(fit.p_sat_w, Estimate)
    assert fit.p_sat_w.contains(p_sat)
    with pytest.raises(ParameterError, match="powers_w"):
        measure_saturation(laser, _Tagger(laser), [1e-3, 2e-3], 0.01)  # type: ignore[arg-type]
