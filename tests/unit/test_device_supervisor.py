"""Supervisor decisions with fake inputs (no instruments)."""

from __future__ import annotations

import numpy as np
import pytest

from qlight.device.settings import SupervisorSettings
from qlight.device.supervisor import Action, HealthSample, RecoveryBudget, Supervisor

CFG = SupervisorSettings()
REF = 100e3  # reference rate, cps


def _sample(rate: float = REF, **kw: object) -> HealthSample:
    base: dict[str, object] = {
        "sim_time_s": 0.0,
        "rate_cps": rate,
        "laser_power_w": CFG.laser_power_w,
        "laser_on": True,
        "temperature_k": 300.0,
    }
    base.update(kw)
    return HealthSample(**base)  # type: ignore[arg-type]


def test_healthy_sample_is_ok() -> None:
    sup = Supervisor(CFG, REF, 0.0)
    f = sup.check_sample(_sample())
    assert f.ok
    assert f.action is Action.OK


def test_precedence_temperature_then_saturation_then_laser() -> None:
    sup = Supervisor(CFG, REF, 0.0)
    hot = _sample(rate=1e8, laser_on=False, temperature_k=CFG.max_temperature_k + 0.1)
    assert sup.check_sample(hot).action is Action.OVER_TEMPERATURE
    sat = _sample(rate=CFG.max_rate_cps * 1.01, laser_on=False)
    f = sup.check_sample(sat)
    assert f.action is Action.SATURATED
    assert "saturation" in f.reason
    assert sup.check_sample(_sample(laser_on=False)).action is Action.LASER
    assert sup.check_sample(_sample(rate=CFG.max_rate_cps)).ok  # at the limit: fine


def test_laser_tolerance_boundary() -> None:
    sup = Supervisor(CFG, REF, 0.0)
    p, tol = CFG.laser_power_w, CFG.laser_power_tolerance
    assert sup.check_sample(_sample(laser_power_w=p * (1 - 0.99 * tol))).ok
    f = sup.check_sample(_sample(laser_power_w=p * (1 - 1.01 * tol)))
    assert f.action is Action.LASER
    assert f.data["target_w"] == p
    assert sup.check_sample(_sample(laser_power_w=p * (1 + 1.01 * tol))).action is Action.LASER


def test_low_rate_needs_consecutive_samples() -> None:
    sup = Supervisor(CFG, REF, 0.0)
    low = _sample(rate=0.3 * REF)
    n = CFG.low_rate_samples
    for _ in range(n - 1):
        assert sup.check_sample(low).ok
    assert sup.check_sample(_sample()).ok  # a good sample resets the count
    for _ in range(n - 1):
        assert sup.check_sample(low).ok
    f = sup.check_sample(low)
    assert f.action is Action.LOW_RATE
    assert f.data["limit_cps"] == pytest.approx(CFG.min_rate_fraction * REF)
    assert sup.check_sample(low).ok  # the count restarts after a finding


def test_no_false_low_rate_alarm_on_poisson_noise() -> None:
    # 0.2 s at 50 kcps: N = 1e4 expected counts, σ = 100; "low" is < 0.5·N, i.e. 50σ
    # below the mean: P ≈ Φ(−50) per sample, so 5000 samples never trigger (and a real
    # drop to 30 % triggers every `low_rate_samples` samples).
    rng = np.random.default_rng(5)
    ref, t = 50e3, 0.2
    sup = Supervisor(CFG, ref, 0.0)
    rates = rng.poisson(ref * t, size=5000) / t
    assert all(sup.check_sample(_sample(rate=float(r))).ok for r in rates)
    dropped = rng.poisson(0.3 * ref * t, size=3 * CFG.low_rate_samples) / t
    found = [sup.check_sample(_sample(rate=float(r))).action for r in dropped]
    assert found.count(Action.LOW_RATE) == 3


def test_g2_threshold_is_two_sigma_significant() -> None:
    sup = Supervisor(CFG, REF, 0.0)
    lim = CFG.max_g2_0
    assert sup.check_g2(lim + 0.1, 0.06).ok  # within 2σ of the limit: not significant
    f = sup.check_g2(lim + 0.1, 0.04)
    assert f.action is Action.MULTI_PHOTON
    assert f.data["g2_0"] == pytest.approx(lim + 0.1)
    assert sup.check_g2(float("nan"), 0.1).ok


def test_periodic_schedules() -> None:
    cfg = SupervisorSettings(g2_check_period_s=10.0, drift_check_period_s=2.0)
    sup = Supervisor(cfg, REF, 100.0)
    assert sup.g2_due(100.0)  # the first g2 right at the start of emission
    assert not sup.g2_due(105.0)
    assert sup.g2_due(110.0)
    assert not sup.g2_due(119.9)
    assert not sup.drift_due(101.0)
    assert sup.drift_due(102.0)
    assert not sup.drift_due(103.9)
    assert sup.drift_due(104.0)


def test_recovery_budget_window() -> None:
    b = RecoveryBudget(2, 10.0)
    assert b.spend(0.0)
    assert b.spend(1.0)
    assert not b.spend(2.0)
    assert b.spend(12.5)  # 0.0, 1.0 and 2.0 fell out of the window
