"""The shared return-to-emitter control flow (qlight.mapping.autoreturn) on the twin.

The truth is read only here, to choose real emitters and empty places and to grade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.instruments.protocols import TagData
from qlight.mapping.autoreturn import (
    Candidate,
    ReturnConfig,
    acquire,
    auto_return,
    find_surface,
    locate_frame,
    sequential_g2,
)
from qlight.mapping.registration import ConstellationConfig, Registration
from qlight.mapping.similarity import Similarity2D

BOUNDS = ConstellationConfig(max_shift_m=60e-6, max_rotation_rad=math.radians(3.5))


def _isolated(truth: Any, n: int) -> list[int]:
    """``n`` bright emitters within 12 µm of the chip centre, none other within 2 µm."""
    a = truth.chip.arrays
    out = []
    for i in np.argsort(-a.i_inf_per_s):
        d = np.hypot(a.x_m - a.x_m[i], a.y_m - a.y_m[i])
        if math.hypot(a.x_m[i], a.y_m[i]) < 12e-6 and np.sort(d)[1] > 2e-6:
            out.append(int(i))
        if len(out) == n:
            break
    assert len(out) == n
    return out


def _empty_place(truth: Any, x_m: float, y_m: float) -> tuple[float, float]:
    """A chip position ≥ 3 µm from every emitter, near ``(x_m, y_m)``."""
    a = truth.chip.arrays
    for r in np.arange(0.0, 20e-6, 0.5e-6):
        for ang in np.linspace(0, 2 * math.pi, 16, endpoint=False):
            x, y = x_m + r * math.cos(ang), y_m + r * math.sin(ang)
            if np.min(np.hypot(a.x_m - x, a.y_m - y)) > 3e-6:
                return x, y
    raise AssertionError("no empty place")


@pytest.fixture(scope="module")
def world() -> tuple[Any, Any, Registration, float]:
    ins, truth = build_twin(TwinConfig(seed=7))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    z = find_surface(ins.scanner, ins.stage, 0.0)
    size = (truth.chip.config.size_x_m, truth.chip.config.size_y_m)
    reg = locate_frame(ins.scanner, Similarity2D.identity(), size, z, BOUNDS)
    return ins, truth, reg, z


def _cand(truth: Any, i: int, key: str, **kw: Any) -> Candidate:
    a = truth.chip.arrays
    return Candidate(float(a.x_m[i]), float(a.y_m[i]), key=key, **kw)


def _err_m(truth: Any, out: Any, i: int) -> float:
    a = truth.chip.arrays
    tx, ty = truth.chip_to_stage(a.x_m[i], a.y_m[i])
    return math.hypot(out.refocus.x_m - float(tx), out.refocus.y_m - float(ty))


def test_returns_to_a_qualified_target_without_a_g2(world: Any) -> None:
    ins, truth, reg, z = world
    (i,) = _isolated(truth, 1)
    zpl = float(truth.chip.arrays.zpl_nm[i])
    t0 = ins.clock.now_s()
    out = acquire(ins, reg, z, [_cand(truth, i, "T", zpl_nm=zpl, qualified=True)])
    dt = ins.clock.now_s() - t0
    assert out.outcome == "returned"
    assert out.emitter is not None
    assert out.emitter.key == "T"
    assert [a.outcome for a in out.attempts] == ["verified"]
    # the localization is at the CRLB (a few nm); 100 nm is a PSF-scale blunder bound
    assert _err_m(truth, out, i) < 100e-9
    # the measured ZPL: fit repeatability ≈ 0.03 nm, well inside the 0.5 nm gate
    assert abs(out.zpl_nm - zpl) < 0.5
    # refocus (≈ 5 s) + 0.5 s spectrum, no HBT acquisition (≥ 0.5 s more)
    assert dt < 8.0
    assert out.timings_s["acquire"] == pytest.approx(dt)


def test_stale_candidates_are_skipped_quickly_and_the_next_one_served(world: Any) -> None:
    ins, truth, reg, z = world
    i, j = _isolated(truth, 2)
    a = truth.chip.arrays
    e1 = _empty_place(truth, float(a.x_m[i]), float(a.y_m[i]))
    e2 = _empty_place(truth, float(a.x_m[j]), float(a.y_m[j]))
    cands = [
        Candidate(*e1, key="gone-target"),
        Candidate(*e2, qualified=True, key="stale"),
        _cand(truth, j, "next", zpl_nm=float(a.zpl_nm[j]), qualified=True),
    ]
    out = acquire(ins, reg, z, cands)
    assert out.outcome == "switched"
    assert out.emitter is not None
    assert out.emitter.key == "next"
    kinds = [(x.key, x.outcome) for x in out.attempts]
    assert kinds == [("gone-target", "gone"), ("stale", "gone"), ("next", "verified")]
    assert out.attempts[1].reason.startswith("short scan")
    assert out.reason == out.attempts[0].reason
    assert _err_m(truth, out, j) < 100e-9


def test_a_short_scan_costs_well_under_a_second(world: Any) -> None:
    ins, truth, reg, z = world
    (i,) = _isolated(truth, 1)
    a = truth.chip.arrays
    e = _empty_place(truth, float(a.x_m[i]) + 8e-6, float(a.y_m[i]))
    ref = _cand(truth, i, "T", zpl_nm=float(a.zpl_nm[i]), qualified=True)
    t0 = ins.clock.now_s()
    assert acquire(ins, reg, z, [ref]).outcome == "returned"
    t1 = ins.clock.now_s()
    assert acquire(ins, reg, z, [Candidate(*e, key="x")]).outcome == "failed"
    t2 = ins.clock.now_s()
    stale = [Candidate(*e, qualified=True, key=f"s{k}") for k in range(5)]
    out = acquire(ins, reg, z, [Candidate(*e, key="x"), *stale, ref])
    t3 = ins.clock.now_s()
    assert out.outcome == "switched"
    assert out.emitter is not None
    assert out.emitter.key == "T"
    assert [x.outcome for x in out.attempts] == ["gone"] * 6 + ["verified"]
    # the 5 probes: 144 px × 1 ms + stage moves each, so well under 0.5 s each; the served
    # candidate's probe adds one more (< 0.5 s) to its refocus + spectrum
    probes = (t3 - t2) - (t2 - t1) - (t1 - t0)
    assert 0.0 < probes < 6 * 0.5


def test_zpl_mismatch_is_not_adopted(world: Any) -> None:
    ins, truth, reg, z = world
    (i,) = _isolated(truth, 1)
    zpl = float(truth.chip.arrays.zpl_nm[i])
    out = acquire(ins, reg, z, [_cand(truth, i, "T", zpl_nm=zpl + 3.0, qualified=True)])
    assert out.outcome == "failed"
    assert out.emitter is None
    assert out.attempts[0].outcome == "mismatch"
    assert "ZPL" in out.attempts[0].reason


def test_an_unqualified_candidate_gets_a_g2_and_refill_is_used(world: Any) -> None:
    ins, truth, reg, z = world
    (i,) = _isolated(truth, 1)
    a = truth.chip.arrays
    e = _empty_place(truth, float(a.x_m[i]), float(a.y_m[i]))
    calls: list[int] = []

    def refill() -> Sequence[Candidate]:
        calls.append(1)
        return [_cand(truth, i, "new")] if len(calls) == 1 else []

    t0 = ins.clock.now_s()
    out = acquire(ins, reg, z, [Candidate(*e, key="old")], refill=refill)
    t_unqualified = ins.clock.now_s() - t0
    assert calls == [1]
    assert out.outcome == "switched"
    assert out.emitter is not None
    assert out.emitter.key == "new"
    # the same switch to the same emitter, qualified at mapping time: no HBT chunk (≥ 1 s)
    t1 = ins.clock.now_s()
    q = acquire(ins, reg, z, [Candidate(*e, key="old"), _cand(truth, i, "q", qualified=True)])
    t_qualified = ins.clock.now_s() - t1
    assert q.outcome == "switched"
    assert t_unqualified - t_qualified >= 1.0
    # nothing at all: refill empty → failed with every attempt recorded
    out2 = acquire(ins, reg, z, [Candidate(*e, key="old")], refill=list)
    assert out2.outcome == "failed"
    assert [x.outcome for x in out2.attempts] == ["gone"]


class _FakeTagger:
    """Two HBT channels behind a 50:50 splitter: Poisson light, or a renewal process with a
    1 ns minimum gap between photons (no pair within ±200 ps: g2(0) = 0 there)."""

    n_channels = 2

    def __init__(self, rate_per_s: float, antibunched: bool, seed: int) -> None:
        self.rate = rate_per_s
        self.antibunched = antibunched
        self.rng = np.random.default_rng(seed)

    def acquire(self, duration_s: float) -> TagData:
        n = int(self.rate * duration_s * 1.2) + 100
        gap = 1000.0 if self.antibunched else 0.0
        mean = 1e12 / self.rate - gap
        t = np.cumsum(gap + self.rng.exponential(mean, n))
        tags = t[t < duration_s * 1e12].astype(np.int64)
        ch = self.rng.random(tags.size) < 0.5
        return TagData((tags[ch], tags[~ch]), int(duration_s * 1e12), 1)


def _g2(rate_per_s: float, antibunched: bool, seed: int) -> Any:
    tagger: Any = _FakeTagger(rate_per_s, antibunched, seed)
    return sequential_g2(tagger, chunk_s=1.0, max_duration_s=20.0)


def test_sequential_g2_accepts_a_single_source_early_and_rejects_poisson_light() -> None:
    # 2·10⁵ /s split in two: E grows by (10⁵)²·400 ps = 4 per second, so a g2(0) = 0 source
    # passes C/E + 3√1/E < 0.5 once E > 6 (2 chunks), and Poisson light (g2 = 1) fails
    # g2 − 3σ > 0.5 once 1 − 3/√E > 0.5, E > 36 (≈ 9 chunks), both well before 20 s
    single = _g2(2e5, True, 1)
    assert single.single
    assert single.g2_0 < 0.1
    assert single.duration_s <= 3.0
    poisson = _g2(2e5, False, 2)
    assert not poisson.single
    assert poisson.reason.startswith("multi-emitter")
    assert abs(poisson.g2_0 - 1.0) < 4 * poisson.g2_0_err
    assert poisson.duration_s < 20.0
    # 2·10⁴ /s: E = 0.04/s, 0.8 in 20 s < 16: rejected after the first chunk as too dim
    dim = _g2(2e4, True, 3)
    assert not dim.single
    assert "too dim" in dim.reason
    assert dim.duration_s == 1.0


def test_auto_return_runs_all_steps_with_timings(world: Any) -> None:
    ins, truth, reg, _ = world
    (i,) = _isolated(truth, 1)
    size = (truth.chip.config.size_x_m, truth.chip.config.size_y_m)
    out = auto_return(
        ins, prior=reg.transform, z_reference_m=0.0, chip_size_m=size, bounds=BOUNDS,
        candidates=[_cand(truth, i, "T", qualified=True)],
    )  # fmt: skip
    assert out.outcome == "returned"
    assert out.registration is not None
    assert set(out.timings_s) == {"surface", "frame", "acquire", "total"}
    parts = out.timings_s["surface"] + out.timings_s["frame"] + out.timings_s["acquire"]
    assert out.timings_s["total"] == pytest.approx(parts)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"position_gate_m": 0.0}, "position_gate_m"),
        ({"zpl_gate_nm": math.nan}, "zpl_gate_nm"),
        ({"brightness_ratio": 1.0}, "brightness_ratio"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_bad_config_is_rejected(kw: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        ReturnConfig(**kw)
