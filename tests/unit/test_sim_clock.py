"""The simulated clock and the time costs of the simple twin instruments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.instruments.sim import laser as sim_laser
from qlight.instruments.sim import thermometer as sim_thermometer
from qlight.instruments.sim.clock import SimClock


class FakeWall:
    """Injected wall clock: ``sleep`` moves the monotonic time; calls are recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_fast_clock_only_adds() -> None:
    wall = FakeWall()
    clock = SimClock("fast", sleep=wall.sleep, monotonic=wall.monotonic)
    assert clock.now_s() == 0.0
    assert clock.advance(1.5) == 1.5
    clock.wait(0.25)
    assert clock.now_s() == 1.75
    assert wall.sleeps == []
    with pytest.raises(ParameterError, match="duration_s"):
        clock.advance(-1.0)
    with pytest.raises(ParameterError, match="duration_s"):
        clock.advance(math.nan)
    with pytest.raises(ParameterError, match="pace"):
        SimClock("slow")  # type: ignore[arg-type]


def test_realtime_clock_sleeps_until_wall_time_catches_up() -> None:
    wall = FakeWall()
    clock = SimClock("realtime", sleep=wall.sleep, monotonic=wall.monotonic)
    clock.advance(2.0)
    assert wall.sleeps == [2.0]
    wall.now += 5.0  # the computation took longer than the simulated time: no sleep
    clock.advance(1.0)
    assert wall.sleeps == [2.0]
    clock.advance(5.0)  # sim 8 s, wall 7 s: sleep 1 s
    assert wall.sleeps == pytest.approx([2.0, 1.0])
    assert clock.now_s() <= wall.now - 100.0


def test_stage_moves_cost_distance_over_velocity_plus_settle() -> None:
    ins, _ = build_twin(TwinConfig(seed=1))
    t0 = ins.clock.now_s()
    pos = ins.stage.move_to(100e-6, -50e-6, 2e-6)
    # StageConfig defaults: 1 mm/s lateral, 0.1 mm/s axial, 10 ms settle
    lateral = math.hypot(100e-6, 50e-6) / 1e-3
    axial = 2e-6 / 1e-4
    assert ins.clock.now_s() - t0 == pytest.approx(max(lateral, axial) + 0.01)
    assert (pos.x_m, pos.y_m, pos.z_m) == (100e-6, -50e-6, 2e-6)
    assert ins.stage.position() == pos
    t1 = ins.clock.now_s()
    ins.stage.move_to(100e-6, -50e-6)  # zero-length move (z kept): free
    assert ins.clock.now_s() == t1
    (_x_lo, x_hi), _, _ = ins.stage.travel_range_m
    with pytest.raises(ParameterError, match="x_m"):
        ins.stage.move_to(x_hi + 1e-6, 0.0)
    with pytest.raises(ParameterError, match="y_m"):
        ins.stage.move_to(0.0, math.inf)


def test_laser_settings_and_their_costs() -> None:
    ins, _ = build_twin(TwinConfig(seed=1, laser_max_power_w=5e-3))
    laser = ins.laser
    assert not laser.is_on
    assert laser.wavelength_nm == pytest.approx(532.0)
    t0 = ins.clock.now_s()
    laser.set_power(2e-3)
    laser.on()
    assert ins.clock.now_s() - t0 == pytest.approx(sim_laser.POWER_SETTLE_S + sim_laser.SWITCH_S)
    assert (laser.power_w, laser.is_on, laser.mode, laser.rep_rate_hz) == (2e-3, True, "cw", None)
    laser.set_pulsed(40e6, 100.0)
    assert (laser.mode, laser.rep_rate_hz) == ("pulsed", 40e6)
    laser.set_cw()
    assert laser.mode == "cw"
    for bad in (-1e-3, 6e-3, math.nan):
        with pytest.raises(ParameterError, match="power_w"):
            laser.set_power(bad)
    with pytest.raises(ParameterError, match="pulse_width_ps"):
        laser.set_pulsed(1e9, 2000.0)


def test_thermometer_reads_the_warm_up_model_with_noise() -> None:
    ins, _ = build_twin(TwinConfig(seed=1))
    # ThermalConfig defaults: 22 °C at power-on, +2 K with τ = 1200 s
    readings = []
    t0 = ins.clock.now_s()
    for _ in range(200):
        readings.append(ins.thermometer.temperature_k())
    assert ins.clock.now_s() - t0 == pytest.approx(200 * sim_thermometer.READ_TIME_S)
    r = np.array(readings)
    assert np.allclose(r / 1e-3, np.round(r / 1e-3), atol=1e-6)  # 1 mK resolution
    model = 295.15 + 2.0 * (1 - math.exp(-1.0 / 1200.0))  # mean over the first ~2 s
    # mean of 200 readings with σ = 5 mK: standard error 0.35 mK; 5σ + 1 mK quantisation
    assert abs(r.mean() - model) < 5 * 5e-3 / math.sqrt(200) + 1e-3
    assert 3e-3 < r.std() < 7e-3
    ins.clock.wait(1200.0)
    assert ins.thermometer.temperature_k() == pytest.approx(
        295.15 + 2.0 * (1 - math.exp(-1.0)), abs=0.03
    )
