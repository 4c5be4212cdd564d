"""Stage frames, moves, thermal drift and power cycles (qlight.physics.stage/thermal)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tests.naive import stage_chip_to_stage

from qlight.errors import ParameterError
from qlight.physics.chip import ChipConfig, generate_chip
from qlight.physics.stage import FrameTransform, StageConfig, StageModel
from qlight.physics.thermal import ThermalConfig, ThermalModel

NM_PER_MIN = 1e-9 / 60.0

coords = st.floats(-1e-2, 1e-2, allow_nan=False)
transforms = st.builds(
    FrameTransform,
    tx_m=coords,
    ty_m=coords,
    rotation_rad=st.floats(-math.pi, math.pi),
    scale=st.floats(0.9, 1.1),
)


# ------------------------------------------------------------------------------- frames


@settings(max_examples=200, deadline=None)
@given(t=transforms, x=coords, y=coords)
def test_round_trip_and_matrix_oracle(t: FrameTransform, x: float, y: float) -> None:
    xs, ys = t.chip_to_stage(x, y)
    nx, ny = stage_chip_to_stage(t.tx_m, t.ty_m, t.rotation_rad, t.scale, x, y)
    # values up to ~3e-2 m: double rounding leaves ~1e-17 m; 1e-15 m is a safe bound
    assert float(xs) == pytest.approx(nx, abs=1e-15)
    assert float(ys) == pytest.approx(ny, abs=1e-15)
    xc, yc = t.stage_to_chip(xs, ys)
    assert float(xc) == pytest.approx(x, abs=1e-15)
    assert float(yc) == pytest.approx(y, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(a=transforms, b=transforms, x=coords, y=coords)
def test_compose_and_inverse(a: FrameTransform, b: FrameTransform, x: float, y: float) -> None:
    ab = a.compose(b)
    bx, by = b.chip_to_stage(x, y)
    want = a.chip_to_stage(bx, by)
    got = ab.chip_to_stage(x, y)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ab.matrix(), a.matrix() @ b.matrix(), rtol=0, atol=1e-13)
    ident = a.inverse().compose(a)
    assert ident.tx_m == pytest.approx(0.0, abs=1e-15)
    assert ident.ty_m == pytest.approx(0.0, abs=1e-15)
    assert ident.rotation_rad == pytest.approx(0.0, abs=1e-12)
    assert ident.scale == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(a.inverse().chip_to_stage(x, y), a.stage_to_chip(x, y), atol=1e-15)


def test_transform_arrays_broadcast_and_validate() -> None:
    t = FrameTransform(1e-6, -2e-6, 0.01, 1.0001)
    xs, ys = t.chip_to_stage(np.zeros((3, 4)), 1e-6)
    assert xs.shape == ys.shape == (3, 4)
    with pytest.raises(ParameterError, match="scale"):
        FrameTransform(scale=0.0)
    with pytest.raises(ParameterError, match="x_m/y_m"):
        t.chip_to_stage(math.nan, 0.0)


# ------------------------------------------------------------------------------- moves


def test_moves_reach_target_within_noise_and_take_time() -> None:
    cfg = StageConfig()
    stage = StageModel(cfg, FrameTransform(), np.random.default_rng(1))
    n = 2000
    targets = np.random.default_rng(2).uniform(-50e-6, 50e-6, (n, 3))
    err = np.empty((n, 3))
    prev = np.zeros(3)
    for i, (x, y, z) in enumerate(targets):
        rx, ry, rz, dur = stage.move(x, y, z, t_s=float(i))
        err[i] = (rx - x, ry - y, rz - z)
        d_xy = math.hypot(x - prev[0], y - prev[1]) / cfg.velocity_m_per_s
        d_z = abs(z - prev[2]) / cfg.z_velocity_m_per_s
        assert dur == pytest.approx(max(d_xy, d_z) + cfg.settle_time_s, rel=1e-6)
        prev = np.array([rx, ry, rz])
    # the sample sd of n Gaussian errors has relative SE 1/sqrt(2n) = 1.6 %; allow 4 SE
    tol = 4.0 / math.sqrt(2 * n)
    assert np.std(err[:, 0]) == pytest.approx(cfg.repeatability_m, rel=tol)
    assert np.std(err[:, 1]) == pytest.approx(cfg.repeatability_m, rel=tol)
    assert np.std(err[:, 2]) == pytest.approx(cfg.z_repeatability_m, rel=tol)
    assert np.all(np.abs(np.mean(err, axis=0)) < 4 * cfg.z_repeatability_m / math.sqrt(n))
    # a zero-length move costs nothing
    x, y, z = stage.position_m
    assert stage.move(x, y, z, t_s=1e4)[3] == 0.0


def test_move_outside_travel_is_refused() -> None:
    stage = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(0))
    with pytest.raises(ParameterError, match="x_m"):
        stage.move(2e-3, 0.0, 0.0, t_s=0.0)
    with pytest.raises(ParameterError, match="t_s"):
        stage.move(0.0, 0.0, 0.0, t_s=-1.0)


# ------------------------------------------------------------------------------- thermal + drift


def test_thermal_model_shape() -> None:
    m = ThermalModel(ThermalConfig(ambient_c=21.0, warmup_rise_k=3.0, time_constant_s=100.0))
    assert float(m.temperature_c(0.0)) == 21.0
    assert float(m.temperature_c(1e5)) == pytest.approx(24.0)
    h = 1e-3
    deriv = (m.temperature_c(50.0 + h) - m.temperature_c(50.0 - h)) / (2 * h)
    assert float(m.rate_k_per_s(50.0)) == pytest.approx(float(deriv), rel=1e-6)
    with pytest.raises(ParameterError):
        m.temperature_c(-1.0)


def _speed_nm_per_min(stage: StageModel, t0: float, t1: float) -> float:
    d = stage.drift_offsets_m(np.array([t0, t1]))
    return float(np.hypot(*(d[1, :2] - d[0, :2]))) / (t1 - t0) / NM_PER_MIN


def test_drift_rates_in_reference_ranges() -> None:
    """REFERENCES: 20-100 nm/min while warming up, 1-10 nm/min at equilibrium."""
    warm, eq = [], []
    for seed in range(20):
        stage = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(seed))
        warm.append(_speed_nm_per_min(stage, 0.0, 600.0))
        # equilibrium: 4-6 h after power-on, thermal velocity < 50·e^-12 nm/min
        eq.extend(_speed_nm_per_min(stage, t, t + 60.0) for t in np.arange(4, 6, 0.25) * 3600)
    assert all(20.0 <= w <= 100.0 for w in warm)
    assert 1.0 <= float(np.median(eq)) <= 10.0
    assert 1.0 <= float(np.mean(eq)) <= 10.0


def test_ou_drift_variance_matches_exact_law() -> None:
    """Var Δx(w) = 2σ²τ²(w/τ − 1 + e^{−w/τ}) for a stationary OU velocity."""
    cfg = StageConfig(thermal=ThermalConfig(warmup_rise_k=0.0))
    w, tau = 300.0, cfg.eq_drift_corr_time_s
    sig = cfg.eq_drift_rms_m_per_s
    expected = 2 * sig**2 * tau**2 * (w / tau - 1 + math.exp(-w / tau))
    n = 1500
    dx = np.empty(n)
    for seed in range(n):
        stage = StageModel(cfg, FrameTransform(), np.random.default_rng(seed))
        dx[seed] = stage.drift_offsets_m(np.array([w, 2 * w]))[:, 0] @ [-1.0, 1.0]
    # sample variance of n Gaussian values: relative SE sqrt(2/(n−1)) = 3.7 %; allow 4 SE
    assert np.var(dx) == pytest.approx(expected, rel=4 * math.sqrt(2 / (n - 1)))
    assert abs(np.mean(dx)) < 4 * math.sqrt(expected / n)


def test_drift_is_independent_of_query_order_and_moves() -> None:
    a = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(7))
    b = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(7))
    late = a.drift_offset_m(20000.0)
    b.move(1e-6, 0.0, 0.0, t_s=0.0)
    early_b = b.drift_offset_m(12.5)
    assert b.drift_offset_m(20000.0) == late
    assert a.drift_offset_m(12.5) == early_b
    assert a.drift_offset_m(0.0) == (0.0, 0.0, 0.0)


def test_focus_in_chip_frame_inverts_the_drifted_transform() -> None:
    t = FrameTransform(30e-6, -12e-6, 0.02, 1.0 + 2e-5)
    stage = StageModel(StageConfig(), t, np.random.default_rng(3), focus_offset_m=5e-6)
    time_s = 900.0
    dx, dy, dz = stage.drift_offset_m(time_s)
    cx, cy = 4e-6, -7e-6
    sx, sy = t.chip_to_stage(cx, cy)
    xc, yc, depth = stage.focus_in_chip_frame(sx + dx, sy + dy, 5e-6 + dz + 1e-6, time_s)
    assert float(xc) == pytest.approx(cx, abs=1e-15)
    assert float(yc) == pytest.approx(cy, abs=1e-15)
    assert float(depth) == pytest.approx(1e-6, abs=1e-15)


# ------------------------------------------------------------------------------- power cycle


@pytest.mark.parametrize(("referenced", "lo", "hi"), [(True, 0.1e-6, 2e-6), (False, 1e-6, 50e-6)])
def test_power_cycle_error_magnitudes(referenced: bool, lo: float, hi: float) -> None:
    cfg = StageConfig(referenced_homing=referenced)
    stage = StageModel(cfg, FrameTransform(), np.random.default_rng(0))
    rng = np.random.default_rng(11)
    mags, rots = [], []
    mount = stage.transform
    for _ in range(400):
        res = stage.power_cycle(rng)
        mags.append(math.hypot(*res.translation_error_m))
        rots.append(res.rotation_error_rad)
        # the chip centre sits exactly the translation error away from its mount position:
        # homing errors are fresh draws about the reference and never accumulate
        cx, cy = res.transform.chip_to_stage(0.0, 0.0)
        bx, by = mount.chip_to_stage(0.0, 0.0)
        assert float(cx) - float(bx) == pytest.approx(res.translation_error_m[0], abs=1e-15)
        assert float(cy) - float(by) == pytest.approx(res.translation_error_m[1], abs=1e-15)
        assert stage.drift_offset_m(0.0) == (0.0, 0.0, 0.0)
        assert stage.position_m == (0.0, 0.0, 0.0)
    m = np.array(mags)
    assert np.all((m >= lo) & (m <= hi))
    # log-uniform magnitude: KS against U(log lo, log hi); fixed seed, alpha = 0.001
    p = stats.kstest(np.log(m), stats.uniform(math.log(lo), math.log(hi / lo)).cdf).pvalue
    assert p > 1e-3
    assert np.std(rots) == pytest.approx(cfg.homing_rotation_sd_rad, rel=4 / math.sqrt(800))


def test_homing_errors_do_not_accumulate_but_reseats_do() -> None:
    # 300 unreferenced cycles: focus offset and chip centre stay within one homing error of
    # the mount (a random walk would have left the ±100 µm z travel long before).
    cfg = StageConfig(referenced_homing=False)
    stage = StageModel(cfg, FrameTransform(), np.random.default_rng(0), focus_offset_m=1e-6)
    rng = np.random.default_rng(12)
    zmax = cfg.homing_z_error_unreferenced_m[1]
    xymax = cfg.homing_error_unreferenced_m[1]
    for _ in range(300):
        res = stage.power_cycle(rng)
        assert abs(res.focus_offset_m - 1e-6) <= zmax + 1e-12
        assert math.hypot(*res.transform.chip_to_stage(0.0, 0.0)) <= xymax + 1e-12
    # a re-seat moves the mount itself (tens of µm): later plain cycles stay within one
    # homing error of the NEW mount position, not of the old one
    stage.power_cycle(rng, reseated=True)
    mx, my = stage.mount_transform.chip_to_stage(0.0, 0.0)
    new_mount = (float(mx), float(my))
    assert math.hypot(*new_mount) >= cfg.reseat_translation_m[0] - 1e-12  # moved by |r| >= 5 µm
    for _ in range(50):
        res = stage.power_cycle(rng)
        px, py = res.transform.chip_to_stage(0.0, 0.0)
        assert math.hypot(float(px) - new_mount[0], float(py) - new_mount[1]) <= xymax + 1e-12


def test_reseated_sample_rotates_up_to_two_degrees() -> None:
    stage = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(0))
    rng = np.random.default_rng(5)
    res = [stage.power_cycle(rng, reseated=True) for _ in range(300)]
    rot = np.array([r.rotation_error_rad for r in res])
    shift = np.array([math.hypot(*r.translation_error_m) for r in res])
    assert np.max(np.abs(rot)) <= math.radians(2.0) + 5 * 5e-5
    assert np.max(np.abs(rot)) > math.radians(1.8)  # the range is actually used
    assert np.all(shift < 52e-6)
    assert np.median(shift) > 10e-6  # "tens of µm"


def test_power_cycle_new_spots_and_determinism() -> None:
    chip = generate_chip(ChipConfig(size_x_m=40e-6, size_y_m=40e-6), seed=1)
    counts = []
    for seed in range(300):
        stage = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(0))
        counts.append(len(stage.power_cycle(np.random.default_rng(seed), chip=chip).new_spots))
    lam = chip.config.new_spots_per_power_cycle
    assert np.mean(counts) == pytest.approx(lam, abs=4 * math.sqrt(lam / 300))
    a = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(0))
    b = StageModel(StageConfig(), FrameTransform(), np.random.default_rng(0))
    ra = a.power_cycle(np.random.default_rng(9), chip=chip)
    rb = b.power_cycle(np.random.default_rng(9), chip=chip)
    assert ra == rb
    assert a.drift_offset_m(3000.0) == b.drift_offset_m(3000.0)


def test_stage_config_validation() -> None:
    with pytest.raises(ParameterError, match="travel_x_m"):
        StageConfig(travel_x_m=(1.0, -1.0))
    with pytest.raises(ParameterError, match="velocity_m_per_s"):
        StageConfig(velocity_m_per_s=0.0)
    with pytest.raises(ParameterError, match="homing_error_referenced_m"):
        StageConfig(homing_error_referenced_m=(0.0, 1e-6))
