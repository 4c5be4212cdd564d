"""Twin fault injection and per-boot homing of the composition root (uses the truth)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import _build, build_device_backend, build_twin
from qlight.errors import ParameterError
from qlight.instruments.sim.faults import (
    LASER_DROP_FRACTION,
    STAGE_JUMP_M,
    STRAY_DURATION_S,
    STRAY_RATE_PER_S,
    SimFaults,
)

CFG = TwinConfig(seed=3, chip={"size_x_m": 60e-6, "size_y_m": 60e-6})


def test_boot_counter_draws_a_fresh_homing_error() -> None:
    t = [build_twin(CFG, boot=b)[1].transform for b in (0, 1, 1, 2)]
    assert t[1] == t[2]  # deterministic per (seed, boot)
    assert t[0] != t[1]
    assert t[1] != t[3]
    # referenced homing errors are 0.1-2 µm (physics.stage defaults): same mount, small shift
    for a, b in ((t[0], t[1]), (t[1], t[3])):
        assert 0.05e-6 < math.hypot(a.tx_m - b.tx_m, a.ty_m - b.ty_m) < 5e-6
    with pytest.raises(ParameterError, match="boot"):
        build_device_backend(CFG, boot=-1)


def test_laser_drop_and_saturation() -> None:
    ins, _, world = _build(CFG)
    faults = SimFaults(world)
    ins.laser.set_power(1e-3)
    ins.laser.on()
    assert "dropped" in faults.inject("laser_drop")
    assert ins.laser.power_w == pytest.approx(1e-3 * LASER_DROP_FRACTION)
    ins.laser.set_power(1e-3)
    quiet = ins.tagger.count_rates(0.1).total_rate_per_s
    faults.inject("detector_saturation")
    # detector dead time keeps the reading below the stray rate, but far above the quiet one
    assert ins.tagger.count_rates(0.1).total_rate_per_s > STRAY_RATE_PER_S / 4
    ins.clock.wait(STRAY_DURATION_S)
    after = ins.tagger.count_rates(0.1).total_rate_per_s
    # both readings of the quiet surface: Poisson-level agreement (≤ 10σ of ~1e3 counts)
    assert abs(after - quiet) < 10 * math.sqrt(max(quiet, after) * 0.1) / 0.1 + 1e3


def test_stage_error_moves_the_frame() -> None:
    _, truth, world = _build(CFG)
    before = truth.stage_to_chip(0.0, 0.0)
    SimFaults(world).inject("stage_error")
    after = truth.stage_to_chip(0.0, 0.0)
    shift = math.hypot(after[0] - before[0], after[1] - before[1])
    assert shift == pytest.approx(STAGE_JUMP_M, rel=1e-3)


def test_bleach_hits_only_the_emitter_in_focus() -> None:
    ins, truth, world = _build(CFG)
    a = truth.chip.arrays
    i = int(np.argmin(np.hypot(a.x_m, a.y_m)))
    x, y = truth.chip_to_stage(a.x_m[i], a.y_m[i])
    ins.stage.move_to(float(x), float(y), truth.stage_z_for_depth(float(a.depth_m[i])))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    n_before = int(np.sum(truth.bleached()))
    msg = SimFaults(world).inject("bleach")
    assert truth.bleached()[i]
    assert 1 <= int(np.sum(truth.bleached())) - n_before <= 3  # the emitter (and a close pair)
    assert "bleached" in msg
    with pytest.raises(ParameterError, match="fault"):
        SimFaults(world).inject("meteor")
