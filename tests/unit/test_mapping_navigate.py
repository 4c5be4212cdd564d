"""Navigation to a registered emitter: hypotheses, identity verification, bleached fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.mapping.navigate import (
    FocusMeasurement,
    Target,
    Verdict,
    compare_fingerprints,
    navigate,
)
from qlight.mapping.registration import Registration
from qlight.mapping.similarity import Similarity2D, fit_similarity

TRUE = Similarity2D(30e-6, -12e-6, 0.02, 1.0)
WRONG = Similarity2D(33e-6, -12e-6, 0.02, 1.0)  # a 3 µm-off hypothesis


def _registration(t: Similarity2D, alternatives: tuple[Registration, ...] = ()) -> Registration:
    src = np.array([[-10e-6, -10e-6], [10e-6, -10e-6], [0.0, 12e-6], [5e-6, 3e-6]])
    fit = fit_similarity(src, t.apply_points(src), sigma_m=20e-9)
    return Registration(
        fit, "constellation", 0, np.zeros((0, 2), dtype=np.int64), 0.0, alternatives
    )


class FakeMicroscope:
    """Emitters at known chip positions seen through TRUE; bleached ones are dark."""

    def __init__(self, emitters: dict[str, tuple[float, float, float]], bleached: set[str]) -> None:
        self.emitters = emitters  # id -> (x_chip, y_chip, zpl_nm)
        self.bleached = bleached
        self.rng = np.random.default_rng(0)
        self.calls = 0

    def locate(self, x_m: float, y_m: float, z_m: float) -> FocusMeasurement:
        self.calls += 1
        best = None
        for eid, (cx, cy, _) in self.emitters.items():
            if eid in self.bleached:
                continue
            sx, sy = TRUE.apply(cx, cy)
            d = math.hypot(float(sx) - x_m, float(sy) - y_m)
            if d < 1.0e-6 and (best is None or d < best[0]):  # the fine scan's reach
                best = (d, eid, float(sx), float(sy))
        if best is None:
            return FocusMeasurement(False, reason="no emitter above background")
        _, eid, sx, sy = best
        self.last = eid
        n = self.rng.normal(0.0, 20e-9, 2)
        return FocusMeasurement(True, sx + n[0], sy + n[1], z_m, 20e-9, 1e5)

    def verify(self, target: Target, m: FocusMeasurement) -> Verdict:
        zpl = self.emitters[self.last][2]
        return compare_fingerprints(target.fingerprint, {"zpl_nm": zpl, "g2_0": 0.2})


EMITTERS = {
    "E-1": (1e-6, 2e-6, 650.0),
    "E-2": (4e-6, 2e-6, 660.0),  # 3 µm from E-1 along x: what WRONG reaches instead
    "E-3": (-20e-6, 15e-6, 630.0),
}


def _target(eid: str) -> Target:
    x, y, zpl = EMITTERS[eid]
    return Target(eid, x, y, 10e-9, 0.5e-6, {"zpl_nm": zpl})


def test_a_correct_registration_verifies_on_the_first_try() -> None:
    scope = FakeMicroscope(EMITTERS, set())
    res = navigate(
        [_target("E-1")],
        _registration(TRUE),
        surface_z_m=1e-6,
        locate=scope.locate,
        verify=scope.verify,
    )
    assert res.target is not None
    assert res.target.emitter_id == "E-1"
    assert [a.outcome for a in res.attempts] == ["verified"]
    assert res.measurement is not None
    assert res.measurement.z_m == pytest.approx(1.5e-6)


def test_a_wrong_hypothesis_finds_another_emitter_and_the_next_hypothesis_verifies() -> None:
    scope = FakeMicroscope(EMITTERS, set())
    # this hypothesis is 3 µm off in x: E-2's prediction falls on E-1
    reg = _registration(Similarity2D(27e-6, -12e-6, 0.02, 1.0), (_registration(TRUE),))
    res = navigate([_target("E-2")], reg, surface_z_m=0.0, locate=scope.locate, verify=scope.verify)
    assert res.target is not None
    assert res.target.emitter_id == "E-2"
    outcomes = [a.outcome for a in res.attempts]
    assert outcomes[-1] == "verified"
    assert outcomes[0] in {"mismatch", "off_prediction"}
    assert res.attempts[-1].hypothesis == 1


def test_identity_mismatch_inside_the_gate_is_caught_by_the_fingerprint() -> None:
    # E-1' sits 30 nm from where E-1 was registered but emits at another ZPL: a new defect
    emitters = {**EMITTERS, "E-1": (1e-6, 2e-6, 690.0)}
    scope = FakeMicroscope(emitters, set())
    res = navigate(
        [Target("E-1", 1e-6, 2e-6, 10e-9, 0.0, {"zpl_nm": 650.0}), _target("E-3")],
        _registration(TRUE),
        surface_z_m=0.0,
        locate=scope.locate,
        verify=scope.verify,
    )
    assert res.attempts[0].outcome == "mismatch"
    assert "ZPL" in res.attempts[0].reason
    assert res.target is not None
    assert res.target.emitter_id == "E-3"


def test_a_bleached_target_is_given_up_with_a_reason_and_the_next_best_is_reached() -> None:
    scope = FakeMicroscope(EMITTERS, {"E-3"})
    res = navigate(
        [_target("E-3"), _target("E-1")],
        _registration(TRUE, (_registration(WRONG),)),
        surface_z_m=0.0,
        locate=scope.locate,
        verify=scope.verify,
    )
    assert "E-3" in res.given_up
    assert "no emission" in res.given_up["E-3"]
    assert res.target is not None
    assert res.target.emitter_id == "E-1"


def test_everything_bleached_ends_with_no_target() -> None:
    scope = FakeMicroscope(EMITTERS, set(EMITTERS))
    res = navigate(
        [_target(e) for e in EMITTERS],
        _registration(TRUE),
        surface_z_m=0.0,
        locate=scope.locate,
        verify=scope.verify,
    )
    assert res.target is None
    assert set(res.given_up) == set(EMITTERS)


def test_compare_fingerprints_names_each_failed_criterion() -> None:
    ref = {"zpl_nm": 650.0, "brightness_per_s": 2e5}
    assert compare_fingerprints(ref, {"zpl_nm": 650.8, "brightness_per_s": 1.2e5}).match
    v = compare_fingerprints(ref, {"zpl_nm": 655.0, "brightness_per_s": 5e4, "g2_0": 0.7})
    assert not v.match
    for word in ("ZPL", "brightness", "g2(0)"):
        assert word in v.reason
    with pytest.raises(ParameterError):
        compare_fingerprints(ref, ref, brightness_ratio=0.5)
