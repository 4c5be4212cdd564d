"""The power-cycle harness grades the control code's outcome against the twin's truth."""

from __future__ import annotations

import math

import numpy as np

from qlight.cli._powercycle_control import Candidate, CycleOutcome
from qlight.cli.demo_powercycle import _grade
from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.instruments.sim.truth import TwinTruth
from qlight.mapping.refocus import RefocusResult


def _isolated(truth: TwinTruth, k: int) -> list[int]:
    """``k`` isolated emitters (nearest neighbour > 2 µm) far from each other."""
    a = truth.chip.arrays
    d = np.hypot(a.x_m[:, None] - a.x_m[None, :], a.y_m[:, None] - a.y_m[None, :])
    np.fill_diagonal(d, np.inf)
    ok = np.flatnonzero(
        (d.min(axis=1) > 2e-6) & (np.array([e.cluster for e in truth.chip.emitters]) < 0)
    )
    return [int(i) for i in ok[:k]]


def _at(truth: TwinTruth, slot: int, offset_m: float = 0.0) -> RefocusResult:
    a = truth.chip.arrays
    x, y = truth.chip_to_stage(a.x_m[slot] + offset_m, a.y_m[slot])
    return RefocusResult(float(x), float(y), 0.0, True, "", None)


def _chosen(truth: TwinTruth, slot: int) -> Candidate:
    a = truth.chip.arrays
    return Candidate(float(a.x_m[slot]), float(a.y_m[slot]))


def test_a_return_is_right_only_to_the_live_target_and_a_switch_only_if_it_is_gone() -> None:
    ins, truth = build_twin(TwinConfig(seed=3, chip={"size_x_m": 60e-6, "size_y_m": 60e-6}))
    s, t = _isolated(truth, 2)
    uid_s, uid_t = (int(truth.emitter_uids()[i]) for i in (s, t))
    back = CycleOutcome("returned", "", _at(truth, s, 2e-9))
    ok, nxt, err = _grade(truth, uid_s, back, _chosen(truth, s))
    assert ok
    assert nxt == uid_s
    assert abs(err - 2.0) < 0.1  # the 2 nm offset (chip and stage scales equal)
    # returning to another emitter is wrong, and the grading follows what it tracks now
    wrong = CycleOutcome("returned", "", _at(truth, t))
    ok, nxt, _ = _grade(truth, uid_s, wrong, _chosen(truth, t))
    assert not ok
    assert nxt == uid_t
    # a switch while the target is alive is a false "gone"
    switch = CycleOutcome("switched", "target gone", _at(truth, t))
    ok, _, _ = _grade(truth, uid_s, switch, _chosen(truth, t))
    assert not ok
    # once the target has truly bleached: the return to its place is wrong, the switch right
    truth._world.emitter_states[s].bleached = True
    ok, _, err = _grade(truth, uid_s, back, _chosen(truth, s))
    assert not ok
    assert math.isnan(err)
    ok, nxt, err = _grade(truth, uid_s, switch, _chosen(truth, t))
    assert ok
    assert nxt == uid_t
    assert err < 1.0
    # a switch that lands 300 nm off the chosen candidate is not the candidate
    off = CycleOutcome("switched", "target gone", _at(truth, t, 300e-9))
    ok, _, _ = _grade(truth, uid_s, off, _chosen(truth, t))
    assert not ok
    assert not _grade(truth, uid_s, CycleOutcome("failed", "x"), _chosen(truth, t))[0]
    del ins
