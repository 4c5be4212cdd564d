"""The twin's time tagger: rates at a true emitter, clusters, bleaching, chunks, cancellation."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_twin
from qlight.errors import ParameterError
from qlight.instruments.protocols import OperationCancelled
from qlight.instruments.sim.truth import EmitterTruth, TwinTruth
from qlight.timetags.g2 import g2_at_zero, g2_cw

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6}


def _twin(
    seed: int = 1, chip: dict[str, Any] | None = None, **kw: Any
) -> tuple[Instruments, TwinTruth]:
    ins, truth = build_twin(TwinConfig(seed=seed, chip={**SMALL_CHIP, **(chip or {})}, **kw))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    return ins, truth


def _isolated(truth: TwinTruth, *, blinking: bool = False) -> list[EmitterTruth]:
    a = truth.chip.arrays
    out = []
    for e in truth.emitters():
        d = np.hypot(a.x_m - e.x_chip_m, a.y_m - e.y_chip_m)
        if e.cluster < 0 and e.blinking == blinking and np.sort(d)[1] > 2e-6 and not e.bleached:
            out.append(e)
    return out


@pytest.mark.parametrize("rep_rate_hz", [None, 40e6])
def test_count_rate_at_a_true_emitter_matches_its_expected_rate(rep_rate_hz: float | None) -> None:
    ins, truth = _twin(seed=1)
    if rep_rate_hz is not None:
        ins.laser.set_pulsed(rep_rate_hz, 50.0)
    # not at a bullseye: those reach Mcps, where the dead-time closed form (exact for
    # Poisson light) is off by r·τd·|g2 − 1| ≈ 2 %
    e = max((e for e in _isolated(truth) if not e.at_structure), key=lambda e: e.eta)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    sig, bg, registered = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    assert sig > 20 * bg  # we are on the emitter
    tags = ins.tagger.acquire(1.0)
    n = sum(tags.counts)
    # Counts of a three-level emitter are super-Poissonian through bunching on the shelving
    # time: Fano factor 1 + 2r∫(g2 − 1)dτ ≈ 1 + 2·r·a·τ2 < 2 for r ≲ 3e5/s, a ≲ 3, τ2 ≲ 500 ns.
    # Tolerance 5σ with σ² = 2N; the dead-time closed form is exact for Poisson light only
    # (error ~ r·τd·|g2 − 1| ≈ 0.5 %), inside the bound for N ≈ 2e5 (σ ≈ 0.3 %·N... ×5).
    assert abs(n - registered) < 5.0 * math.sqrt(2.0 * registered) + 0.005 * registered
    # and a stage 1 µm off sees a small fraction of it
    ins.stage.move_to(e.x_stage_m + 1e-6, e.y_stage_m, e.z_stage_m)
    off = sum(ins.tagger.count_rates(0.5).counts) / 0.5
    assert off < 0.1 * registered


def test_tags_are_sorted_int64_inside_the_duration_and_chunks_concatenate() -> None:
    ins, truth = _twin(seed=2, acquisition_chunk_s=0.25)
    e = max(_isolated(truth), key=lambda e: e.eta)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    calls: list[tuple[int, int]] = []
    t0 = ins.clock.now_s()
    tags = ins.tagger.acquire(1.1, progress=lambda d, t: calls.append((d, t)))
    assert ins.clock.now_s() - t0 == pytest.approx(1.1, abs=1e-12)
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert tags.duration_ps == 1_100_000_000_000
    assert tags.t_start_s == t0
    dead = truth.detector.dead_time_ps
    for t in tags.t_ps:
        assert t.dtype == np.int64
        assert np.all(np.diff(t) >= dead)  # sorted and the dead time holds across chunks
        assert t[0] >= 0
        assert t[-1] < tags.duration_ps
        # every chunk has counts: the concatenation did not drop or shift a chunk
        per_chunk = np.histogram(t, bins=[0, 2.5e11, 5e11, 7.5e11, 1e12, 1.1e12])[0]
        assert np.all(per_chunk > 0.5 * per_chunk.max() * np.array([1, 1, 1, 1, 0.4]))


def test_a_cluster_gives_g2_above_one_half_and_a_single_emitter_below() -> None:
    ins, truth = _twin(seed=5, chip={"cluster_probability": 1.0, "blinking_fraction": 0.0})
    a = truth.chip.arrays
    best: tuple[float, float, float, float] | None = None  # (signal, x, y, z)
    for e in truth.emitters():
        if e.cluster != e.index:
            continue
        members = list(truth.cluster_members(e.index))
        xs, ys = truth.chip_to_stage(a.x_m[members], a.y_m[members])
        cx, cy = float(np.mean(xs)), float(np.mean(ys))
        z = truth.stage_z_for_depth(float(np.mean(a.depth_m[members])))
        sig, bg, _ = truth.expected_rates_at(cx, cy, z)
        # ideal g2(0) of independent single emitters in the focus: 1 − Σ I_i² / (Σ I_i)²
        r = np.array(list(truth.emitter_rates_at(cx, cy, z).values()))
        g_ideal = 1.0 - float(np.sum(r**2) / np.sum(r) ** 2)
        if g_ideal > 0.6 and sig > 20 * bg and (best is None or sig > best[0]):
            best = (sig, cx, cy, z)
    assert best is not None
    ins.stage.move_to(*best[1:])

    def g2_zero() -> tuple[float, float]:
        tags = ins.tagger.acquire(5.0)
        h = g2_cw(*tags.t_ps, window_ps=100_000, bin_ps=250, duration_ps=tags.duration_ps)
        return g2_at_zero(h, half_width_ps=500)

    # one-sided 4σ: the measured g2(0) of the cluster exceeds 1/2 ...
    g0, err = g2_zero()
    assert g0 - 4.0 * err > 0.5
    # ... and that of the brightest single emitter lies below it
    e = max(
        _isolated(truth),
        key=lambda e: truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)[0],
    )
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    g0, err = g2_zero()
    assert g0 + 4.0 * err < 0.5


def test_acquisition_bleaches_and_state_carries_over() -> None:
    ins, truth = _twin(
        seed=3,
        chip={"bleachable_fraction": 1.0, "mean_photon_budget": 2e6, "blinking_fraction": 0.0},
    )
    e = max(_isolated(truth), key=lambda e: e.eta)
    assert math.isfinite(e.remaining_budget)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    # emission ~ 1e6/s at 1 mW: a 2e6-photon budget lasts a few seconds
    for _ in range(40):
        if truth.bleached()[e.index]:
            break
        ins.tagger.acquire(0.5)
    assert truth.bleached()[e.index]
    assert truth.emitters()[e.index].remaining_budget == 0.0
    _sig, _bg, registered = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    counts = sum(ins.tagger.acquire(1.0).counts)
    # only background + dark remain: Poisson, 5σ
    assert abs(counts - registered) < 5 * math.sqrt(registered) + 5


def test_count_rates_are_poisson_around_the_expectation_and_cost_their_duration() -> None:
    ins, truth = _twin(seed=4)
    e = max(_isolated(truth), key=lambda e: e.eta)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    _, _, registered = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    t0 = ins.clock.now_s()
    cr = ins.tagger.count_rates(2.0)
    assert ins.clock.now_s() - t0 == pytest.approx(2.0)
    assert cr.duration_s == pytest.approx(2.0)
    # each detector: Poisson with mean registered/2 × 2 s; 5σ on the sum
    mean = registered * 2.0
    assert abs(sum(cr.counts) - mean) < 5 * math.sqrt(mean)
    assert cr.total_rate_per_s == pytest.approx(sum(cr.counts) / 2.0)


def test_laser_off_gives_dark_counts_only() -> None:
    ins, truth = _twin(seed=4)
    e = max(_isolated(truth), key=lambda e: e.eta)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    ins.laser.off()
    tags = ins.tagger.acquire(2.0)
    dark = truth.detector.dark_cps
    for n in tags.counts:  # Poisson(dark × 2 s) per detector, 5σ
        assert abs(n - 2 * dark) < 5 * math.sqrt(2 * dark)


def test_cancellation_and_bad_durations() -> None:
    ins, _truth = _twin(seed=6, acquisition_chunk_s=0.1)
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 3:
            stop.set()

    t0 = ins.clock.now_s()
    with pytest.raises(OperationCancelled, match="acquire cancelled after 3 of 10"):
        ins.tagger.acquire(1.0, progress=progress, cancel=stop)
    assert ins.clock.now_s() - t0 == pytest.approx(0.3)
    for bad in (0.0, -1.0, math.nan, 1e5):
        with pytest.raises(ParameterError, match="duration_s"):
            ins.tagger.acquire(bad)
        with pytest.raises(ParameterError, match="duration_s"):
            ins.tagger.count_rates(bad)


def test_same_seed_same_tags() -> None:
    out = []
    for seed in (8, 8, 9):
        ins, truth = _twin(seed=seed)
        e = max(_isolated(truth), key=lambda e: e.eta)
        ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
        out.append(ins.tagger.acquire(0.2))
    for ch in (0, 1):
        np.testing.assert_array_equal(out[0].t_ps[ch], out[1].t_ps[ch])
    assert out[0].counts != out[2].counts


def test_drift_moves_the_emitter_out_of_the_focus_during_warm_up() -> None:
    # warm-up drift 500 nm/K × 2 K: ≈ 1 µm after an hour (StageConfig defaults)
    ins, truth = _twin(seed=12)
    e = max(_isolated(truth), key=lambda e: e.eta)
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    first = ins.tagger.count_rates(0.5).total_rate_per_s
    ins.clock.wait(3600.0)
    later = ins.tagger.count_rates(0.5).total_rate_per_s
    assert later < 0.3 * first
    # the truth knows where it went
    moved = truth.emitters()[e.index]
    assert math.hypot(moved.x_stage_m - e.x_stage_m, moved.y_stage_m - e.y_stage_m) > 0.3e-6
    ins.stage.move_to(moved.x_stage_m, moved.y_stage_m, moved.z_stage_m)
    back = ins.tagger.count_rates(0.5).total_rate_per_s
    assert back > 0.8 * first
