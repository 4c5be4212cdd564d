"""Power cycles of the twin: new unknown transform, drift reset, bleached stay dark, new spots."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_twin
from qlight.instruments.sim.truth import EmitterTruth, TwinTruth

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6}
#: without reference switches the homing error is 1–50 µm (REFERENCES.md): the emitter is lost
UNREFERENCED = {"referenced_homing": False}


def _twin(
    seed: int, chip: dict[str, Any] | None = None, **kw: Any
) -> tuple[Instruments, TwinTruth]:
    ins, truth = build_twin(TwinConfig(seed=seed, chip={**SMALL_CHIP, **(chip or {})}, **kw))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    return ins, truth


def _bright_single(truth: TwinTruth) -> EmitterTruth:
    a = truth.chip.arrays

    def lonely(e: EmitterTruth) -> bool:
        return bool(np.sort(np.hypot(a.x_m - e.x_chip_m, a.y_m - e.y_chip_m))[1] > 2e-6)

    cands = [e for e in truth.emitters() if e.cluster < 0 and not e.blinking and lonely(e)]
    return max(cands, key=lambda e: e.eta)


def test_after_a_power_cycle_the_same_coordinates_miss_and_the_truth_knows_why() -> None:
    ins, truth = _twin(seed=21, stage=UNREFERENCED)
    e = _bright_single(truth)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    before = ins.tagger.count_rates(0.5).total_rate_per_s
    transform_before = truth.transform
    t0 = ins.clock.now_s()
    ins.power.power_cycle()
    assert ins.clock.now_s() - t0 == pytest.approx(30.0)  # boot + homing
    assert ins.power.uptime_s() == 0.0
    assert not ins.laser.is_on  # comes up off
    assert ins.stage.position().x_m == 0.0  # homed
    cycle = truth.power_cycles[-1]
    assert truth.transform == cycle.transform != transform_before
    assert math.hypot(*cycle.translation_error_m) > 1e-6
    ins.laser.on()
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    after = ins.tagger.count_rates(0.5).total_rate_per_s
    assert after < 0.1 * before
    # the truth's new stage coordinates of the same emitter hit it again
    moved = truth.emitters()[e.index]
    xs, ys = cycle.transform.chip_to_stage(e.x_chip_m, e.y_chip_m)
    assert moved.x_stage_m == pytest.approx(float(xs) + truth.drift_m()[0], abs=1e-12)
    assert moved.y_stage_m == pytest.approx(float(ys) + truth.drift_m()[1], abs=1e-12)
    ins.stage.move_to(moved.x_stage_m, moved.y_stage_m, moved.z_stage_m)
    again = ins.tagger.count_rates(0.5).total_rate_per_s
    # same emitter, same power: the two 0.5 s readings agree within Poisson 5σ (+ 2 % for
    # the closed-loop error and the drift over the 0.5 s readings)
    assert abs(again - before) < 5 * math.sqrt(2 * before / 0.5) + 0.02 * before


def test_bleached_emitters_stay_dark_after_a_power_cycle() -> None:
    ins, truth = _twin(
        seed=22,
        chip={"bleachable_fraction": 1.0, "mean_photon_budget": 5e5, "blinking_fraction": 0.0},
    )
    e = _bright_single(truth)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    for _ in range(40):
        if truth.bleached()[e.index]:
            break
        ins.tagger.acquire(0.2)
    assert truth.bleached()[e.index]
    n_bleached = int(truth.bleached().sum())
    ins.power.power_cycle()
    ins.laser.on()
    assert int(truth.bleached().sum()) == n_bleached
    moved = truth.emitters()[e.index]
    assert moved.bleached
    ins.stage.move_to(moved.x_stage_m, moved.y_stage_m, moved.z_stage_m)
    sig, _bg, registered = truth.expected_rates_at(
        moved.x_stage_m, moved.y_stage_m, moved.z_stage_m
    )
    assert sig == 0.0
    n = sum(ins.tagger.count_rates(1.0).counts)
    assert abs(n - registered) < 5 * math.sqrt(registered) + 5


def test_power_cycle_restarts_the_warm_up_and_adds_spots() -> None:
    ins, truth = _twin(seed=23, chip={"new_spots_per_power_cycle": 4.0})
    cold = ins.thermometer.temperature_k()
    ins.clock.wait(3600.0)
    warm = ins.thermometer.temperature_k()
    # ThermalConfig defaults: 2 K rise, τ = 20 min → 2·(1 − e⁻³) = 1.90 K after an hour;
    # sensor noise 5 mK per reading
    assert warm - cold == pytest.approx(2.0 * (1 - math.exp(-3.0)), abs=0.03)
    drift_warm = np.hypot(*truth.drift_m()[:2])
    n_spots = len(truth.spots())
    ins.power.power_cycle()
    assert ins.thermometer.temperature_k() == pytest.approx(cold, abs=0.03)
    # the drift restarted from zero at power-on
    assert np.hypot(*truth.drift_m()[:2]) < 0.05 * drift_warm
    new = truth.power_cycles[-1].new_spots
    assert len(truth.spots()) == n_spots + len(new)
    assert sum(s.appeared_on_power_cycle for s in truth.spots()) == len(new)
    assert len(new) > 0  # Poisson(4): P(0) = 2 %, fixed seed


def test_power_cycles_are_reproducible() -> None:
    transforms = []
    for _ in range(2):
        ins, truth = _twin(seed=24)
        ins.power.power_cycle()
        ins.power.power_cycle()
        transforms.append(truth.transform)
    assert transforms[0] == transforms[1]
