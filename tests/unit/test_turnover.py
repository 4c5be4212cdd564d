"""Emitter turnover between power cycles: the physics draw and the twin's bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.physics.chip import ChipConfig, generate_chip
from qlight.physics.marks import MarkLayout
from qlight.physics.stage import StageConfig
from qlight.physics.turnover import draw_turnover

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6}


def test_the_number_gone_is_binomial_and_only_live_emitters_go() -> None:
    chip = generate_chip(ChipConfig(), 5)
    n = len(chip.emitters)
    alive = np.ones(n, dtype=bool)
    alive[::4] = False  # a quarter already bleached: never drawn again
    out = draw_turnover(chip, alive, 0.3, np.random.default_rng(1))
    n_live = int(alive.sum())
    # Binomial(n_live, 0.3): mean 0.3 n_live, sd sqrt(n_live·0.3·0.7) ≈ 14.4 for ≈ 985; 4 sd
    sd = math.sqrt(n_live * 0.3 * 0.7)
    assert abs(out.slots.size - 0.3 * n_live) < 4.0 * sd
    assert np.all(alive[out.slots])
    assert len(out.chip.emitters) == n  # slots reused: the arrays stay bounded
    changed = [i for i in range(n) if out.chip.emitters[i] is not chip.emitters[i]]
    assert changed == sorted(out.slots.tolist())


def test_new_emitters_are_isolated_on_the_chip_off_the_marks_and_uniform() -> None:
    chip = generate_chip(ChipConfig(), 6)
    alive = np.ones(len(chip.emitters), dtype=bool)
    out = draw_turnover(chip, alive, 0.5, np.random.default_rng(2))
    c = chip.config
    lay = MarkLayout()
    marks = chip.marks
    new = [out.chip.emitters[int(s)] for s in out.slots]
    xs = np.array([e.x_m for e in new])
    for s, e in zip(out.slots.tolist(), new, strict=True):
        assert e.index == s
        assert e.cluster == -1
        assert not e.at_structure
        assert abs(e.x_m) <= c.size_x_m / 2
        assert abs(e.y_m) <= c.size_y_m / 2
        assert min(max(abs(e.x_m - m.x_m), abs(e.y_m - m.y_m)) for m in marks) > (
            lay.half_extent_m - 1e-12
        )
    # uniform in x: mean 0 with standard error size/sqrt(12 k); 4 standard errors
    assert abs(xs.mean()) < 4.0 * c.size_x_m / math.sqrt(12.0 * xs.size)


def test_same_rng_state_same_turnover_and_zero_fraction_changes_nothing() -> None:
    chip = generate_chip(ChipConfig(), 7)
    alive = np.ones(len(chip.emitters), dtype=bool)
    a = draw_turnover(chip, alive, 0.2, np.random.default_rng(3))
    b = draw_turnover(chip, alive, 0.2, np.random.default_rng(3))
    assert np.array_equal(a.slots, b.slots)
    assert [e.x_m for e in a.chip.emitters] == [e.x_m for e in b.chip.emitters]
    none = draw_turnover(chip, alive, 0.0, np.random.default_rng(3))
    assert none.chip is chip
    assert none.slots.size == 0


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan])
def test_fraction_outside_0_1_is_rejected(bad: float) -> None:
    with pytest.raises(ParameterError):
        StageConfig(emitter_turnover=bad)
    chip = generate_chip(ChipConfig(**SMALL_CHIP), 1)
    with pytest.raises(ParameterError):
        draw_turnover(chip, np.ones(len(chip.emitters), bool), bad, np.random.default_rng(0))
    with pytest.raises(ParameterError):
        draw_turnover(chip, np.ones(3, bool), 0.1, np.random.default_rng(0))


def test_twin_power_cycle_applies_turnover_and_the_truth_knows_new_and_gone() -> None:
    ins, truth = build_twin(TwinConfig(seed=11, chip=SMALL_CHIP, stage={"emitter_turnover": 0.3}))
    plain, plain_truth = build_twin(TwinConfig(seed=11, chip=SMALL_CHIP))
    n = len(truth.chip.emitters)
    assert np.array_equal(truth.emitter_uids(), np.arange(n))
    old_chip = truth.chip
    ins.power.power_cycle()
    plain.power.power_cycle()
    # turnover draws from its own stream: the stage's homing draw is unchanged
    assert truth.transform == plain_truth.transform
    assert plain_truth.turnovers() == ()
    assert np.array_equal(plain_truth.emitter_uids(), np.arange(n))
    ((cycle, slots, gone, new),) = truth.turnovers()
    assert cycle == 1
    assert slots.size > 0
    assert np.array_equal(gone, slots)  # first cycle: uid == slot before
    assert np.all(new >= n)
    assert np.unique(new).size == new.size
    uids = truth.emitter_uids()
    assert np.array_equal(uids[slots], new)
    assert not any(truth.emitter_alive(int(g)) for g in gone)
    assert all(truth.emitter_alive(int(u)) for u in new)
    assert truth.chip is not old_chip
    # the new emitter shines where the twin renders it (the truth's expected rates)
    ins.laser.set_power(1e-3)
    ins.laser.on()
    s = int(slots[np.argmax(truth.chip.arrays.i_inf_per_s[slots])])
    e = truth.emitters()[s]
    rates = truth.emitter_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    assert rates.get(s, 0.0) > 0.0
    ins.power.power_cycle()
    assert len(truth.turnovers()) == 2
    assert truth.turnovers()[1][0] == 2
