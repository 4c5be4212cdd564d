"""Chip-frame registration: constellation matching (synthetic), marks fallback, and the twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from tests.naive import reg_nearest_pairs

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.mapping.fiducials import (
    MarkObservation,
    find_marks,
    focus_surface,
    mark_scan_window,
)
from qlight.mapping.registration import (
    ConstellationConfig,
    RegistrationFailed,
    _matches,
    match_constellation,
    register,
)
from qlight.mapping.similarity import Similarity2D, fit_similarity
from qlight.physics.marks import MarkLayout, encode_mark_bits

#: a registry like the default chip's: 1200 emitters on 200 µm × 200 µm (0.03 /µm²)
CHIP = np.random.default_rng(11).uniform(-100e-6, 100e-6, (1200, 2))
HALF_VIEW_M = 15e-6  # the spots detected now: a 30 µm × 30 µm scan at the stage origin


def _scene(
    t: Similarity2D, rng: np.random.Generator, noise_m: float, missing: float, outliers: float
) -> tuple[np.ndarray, np.ndarray]:
    """Detected spots: registry emitters in view, a fraction missing (bleached), noise, and
    new spots making up ``outliers`` of the result. Returns (spots, true registry index)."""
    st_xy = t.apply_points(CHIP)
    inview = np.nonzero(np.all(np.abs(st_xy) < HALF_VIEW_M, axis=1))[0]
    kept = inview[rng.random(inview.size) >= missing]
    spots = st_xy[kept] + rng.normal(0.0, noise_m, (kept.size, 2))
    n_new = round(outliers * kept.size / (1.0 - outliers))
    new = rng.uniform(-HALF_VIEW_M, HALF_VIEW_M, (n_new, 2))
    truth = np.concatenate([kept, np.full(n_new, -1)])
    return np.vstack([spots, new]), truth


@settings(max_examples=12, deadline=None)
@example(8.375056672566075e-06, 4.2e-05, 0.0, 4.25699878997064e-08, 0)  # a new spot in a gate
@given(
    st.floats(-42e-6, 42e-6),
    st.floats(-42e-6, 42e-6),
    st.floats(-3.0, 3.0),
    st.floats(20e-9, 50e-9),
    st.integers(0, 2**32 - 1),
)
def test_constellation_recovers_random_transforms_with_missing_points_and_outliers(
    tx: float, ty: float, deg: float, noise: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    t = Similarity2D(tx, ty, math.radians(deg), 1.0 + rng.uniform(-2e-4, 2e-4))
    spots, truth = _scene(t, rng, noise, missing=0.3, outliers=0.3)
    cfg = ConstellationConfig(sigma_m=noise)
    reg = match_constellation(CHIP, spots, prior=Similarity2D.identity(), config=cfg)
    # every true correspondence whose noise stays inside the 4σ gate is found, nothing else
    # (a 2-D Gaussian exceeds 4σ with probability e^-8 = 3e-4; a random new spot falls in a
    # 4σ = 200 nm gate with probability 0.03/µm²·π·0.04 µm² = 0.4 %)
    found = {(int(k), int(i)) for k, i in reg.pairs}
    true_pairs = {(int(k), i) for i, k in enumerate(truth) if k >= 0}
    # Another spot (a new one, or a second emitter closer than the noise allows to separate)
    # inside the 4σ gate of a true spot makes that correspondence genuinely ambiguous: such
    # pairs may swap (one miss plus one wrong pair each); everything else must be exact up to
    # one 4σ excursion.
    gate = 4.0 * math.sqrt(2.0) * noise
    ambiguous = sum(
        1
        for i, k in enumerate(truth)
        if k >= 0 and int(np.sum(np.hypot(*(spots - spots[i]).T) < gate)) > 1
    )
    assert len(found & true_pairs) >= len(true_pairs) - 1 - ambiguous
    assert len(found - true_pairs) <= 1 + ambiguous
    # the transform agrees with the truth within its reported uncertainty: the predicted
    # position of view points has a Gaussian error with the reported covariance; 5σ bound
    view_x, view_y = t.apply_inverse([0.0, 15e-6, -15e-6], [0.0, 15e-6, 10e-6])
    for cx, cy in zip(view_x, view_y, strict=True):
        px, py, cov = reg.fit.predict(float(cx), float(cy))
        ex, ey = t.apply(cx, cy)
        err = np.array([px - float(ex), py - float(ey)])
        assert float(err @ np.linalg.solve(cov, err)) < 25.0


def test_icp_matches_agree_with_the_brute_force_oracle() -> None:
    rng = np.random.default_rng(2)
    t = Similarity2D(10e-6, -5e-6, 0.02, 1.0)
    spots, _ = _scene(t, rng, 40e-9, 0.3, 0.3)
    got = _matches(t, cKDTree(CHIP), spots, 0.3e-6)
    back = np.column_stack(t.apply_inverse(spots[:, 0], spots[:, 1]))
    want = reg_nearest_pairs([tuple(p) for p in CHIP], [tuple(p) for p in back], 0.3e-6)
    assert [tuple(p) for p in got.tolist()] == want


def test_mirror_image_of_the_constellation_is_rejected() -> None:
    rng = np.random.default_rng(3)
    t = Similarity2D(20e-6, 30e-6, 0.03, 1.0)
    spots, _ = _scene(t, rng, 30e-9, 0.0, 0.0)
    mirrored = spots * np.array([1.0, -1.0])
    with pytest.raises(RegistrationFailed):
        match_constellation(CHIP, mirrored, prior=Similarity2D.identity())
    # the unmirrored scene registers (the rejection is not a blanket failure)
    assert match_constellation(CHIP, spots, prior=Similarity2D.identity()).n_inliers > 10


def test_implausible_scale_is_rejected() -> None:
    rng = np.random.default_rng(4)
    t = Similarity2D(5e-6, 5e-6, 0.01, 1.02)  # 2 % scale: not a stage
    spots, _ = _scene(t, rng, 30e-9, 0.0, 0.0)
    with pytest.raises(RegistrationFailed):
        match_constellation(CHIP, spots, prior=Similarity2D.identity())


def test_blank_or_tiny_scenes_fail_cleanly() -> None:
    with pytest.raises(RegistrationFailed, match="too few"):
        match_constellation(CHIP, np.zeros((2, 2)), prior=Similarity2D.identity())
    with pytest.raises(RegistrationFailed, match="no fiducial"):
        register([], prior=Similarity2D.identity())


def _synthetic_mark(
    index: int, t: Similarity2D, rng: np.random.Generator, sigma_m: float
) -> MarkObservation:
    lay = MarkLayout()
    cx, cy = lay.position_m(index, 200e-6, 200e-6)
    chip = lay.cell_offsets_m(encode_mark_bits(index)) + np.array([cx, cy])
    stage = t.apply_points(chip) + rng.normal(0.0, sigma_m, chip.shape)
    fit = fit_similarity(chip, stage)
    xs, ys = fit.transform.apply(cx, cy)
    return MarkObservation(index, cx, cy, float(xs), float(ys), chip, stage, fit)


def _pred_error_m(reg_t: Similarity2D, t: Similarity2D, x: float, y: float) -> float:
    a, b = reg_t.apply(x, y)
    c, d = t.apply(x, y)
    return math.hypot(float(a - c), float(b - d))


def test_fallback_chain_marks_mark_plus_constellation_constellation() -> None:
    rng = np.random.default_rng(5)
    t = Similarity2D(-25e-6, 18e-6, math.radians(2.0), 1.0)
    spots, _ = _scene(t, rng, 40e-9, 0.3, 0.3)
    prior = Similarity2D.identity()
    cfg = ConstellationConfig(sigma_m=40e-9)
    one = [_synthetic_mark(45, t, rng, 15e-9)]
    two = [*one, _synthetic_mark(46, t, rng, 15e-9)]
    r_two = register(two, prior=prior, config=cfg)
    assert r_two.method == "marks"
    assert r_two.n_marks == 2
    r_one = register(one, CHIP, spots, prior=prior, config=cfg)
    assert r_one.method == "mark+constellation"
    assert r_one.n_inliers > 10
    r_none = register([], CHIP, spots, prior=prior, config=cfg)
    assert r_none.method == "constellation"
    r_both = register(two, CHIP, spots, prior=prior, config=cfg)
    assert r_both.method == "marks+constellation"
    # the constellation's lever arm beats a lone mark's 3 µm cell pattern far from it
    far = (60e-6, -70e-6)
    assert _pred_error_m(r_one.transform, t, *far) < _pred_error_m(one[0].fit.transform, t, *far)
    for r in (r_two, r_one, r_none, r_both):
        px, py, cov = r.fit.predict(*far)
        ex, ey = t.apply(*far)
        err = np.array([px - float(ex), py - float(ey)])
        assert float(err @ np.linalg.solve(cov, err)) < 25.0  # 5σ


# ----------------------------------------------------------------------------- the twin


def test_after_a_power_cycle_marks_recover_the_true_transform_within_uncertainty() -> None:
    ins, truth = build_twin(TwinConfig(seed=3, stage={"referenced_homing": False}))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    lay = MarkLayout()
    size = (truth.chip.config.size_x_m, truth.chip.config.size_y_m)
    # session 1: the surface focus and a registration the next session takes as prior
    z0 = focus_surface(ins.scanner, 0.0, 0.0, 0.0, span_m=12e-6, n_steps=61)
    prior = Similarity2D.identity()
    ins.power.power_cycle()
    ins.laser.set_power(1e-3)
    ins.laser.on()
    # without reference switches z may be off by up to 20 µm: a coarse then a fine sweep
    z_coarse = focus_surface(ins.scanner, 0.0, 0.0, z0, span_m=44e-6, n_steps=45)
    z1 = focus_surface(ins.scanner, 0.0, 0.0, z_coarse, span_m=3e-6, n_steps=31)
    assert z1 == pytest.approx(truth.focus_offset_m + truth.drift_m()[2], abs=30e-9)
    x, y, w = mark_scan_window(prior, lay)
    img = ins.scanner.raster_scan(x, y, 2 * w, 2 * w, 0.15e-6, 5e-5, z_m=z1)
    marks = find_marks(img, lay, *size)
    assert len(marks) >= 2
    designed = {m.index: (m.x_m, m.y_m) for m in truth.marks()}
    for m in marks:
        assert (m.x_chip_m, m.y_chip_m) == pytest.approx(designed[m.index], abs=1e-12)
    reg = register(marks, prior=prior)
    assert reg.method == "marks"
    t_mid = 0.5 * (img.t_start_s + img.t_end_s)
    for cx, cy in [(0.0, 0.0), (60e-6, 60e-6), (-80e-6, 30e-6)]:
        px, py, cov = reg.fit.predict(cx, cy)
        tx, ty = truth.chip_to_stage(cx, cy, t_mid)
        err = np.array([px - float(tx), py - float(ty)])
        # true error within 5σ of the reported covariance (stage repeatability and drift
        # during the scan are inside the cell-centroid scatter the fit estimates)
        assert float(err @ np.linalg.solve(cov, err)) < 25.0
        assert math.hypot(*err) < 300e-9


def test_a_scan_between_marks_finds_none_and_registration_says_so() -> None:
    ins, truth = build_twin(TwinConfig(seed=4))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    mk = truth.marks()[0]
    # a 10 µm window centred between four marks holds no mark
    x, y = truth.chip_to_stage(mk.x_m + 10e-6, mk.y_m + 10e-6)
    z = truth.focus_offset_m
    img = ins.scanner.raster_scan(float(x), float(y), 10e-6, 10e-6, 0.15e-6, 5e-5, z_m=z)
    marks = find_marks(img, MarkLayout(), 200e-6, 200e-6)
    assert marks == []
    with pytest.raises(RegistrationFailed):
        register(marks, prior=Similarity2D.identity())


def test_on_the_twin_the_detected_constellation_alone_recovers_the_transform() -> None:
    from qlight.mapping.detect import detect_and_localize  # engineer HI's detection

    ins, truth = build_twin(TwinConfig(seed=6))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    lay = MarkLayout()
    psf_sigma_m = ins.scanner.psf_fwhm_m / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    def spots(x_m: float, y_m: float, z_m: float) -> tuple[np.ndarray, float]:
        pl = ins.scanner.raster_scan(x_m, y_m, 30e-6, 30e-6, 0.1e-6, 1e-3, z_m=z_m + 0.3e-6)
        det = detect_and_localize(pl.pl_counts, pl.x_m, pl.y_m, psf_sigma_m=psf_sigma_m)
        xy = np.array([(d.localization.x_m, d.localization.y_m) for d in det.accepted])
        return xy, 0.5 * (pl.t_start_s + pl.t_end_s)

    # session 1: marks give the frame, the detected emitters become the registry
    z0 = focus_surface(ins.scanner, 0.0, 0.0, 0.0, span_m=8e-6, n_steps=41)
    x, y, w = mark_scan_window(Similarity2D.identity(), lay)
    img = ins.scanner.raster_scan(x, y, w, w, 0.15e-6, 5e-5, z_m=z0)
    reg0 = register(find_marks(img, lay, 200e-6, 200e-6), prior=Similarity2D.identity())
    xy0, _ = spots(0.0, 0.0, z0)
    registry = np.column_stack(reg0.transform.apply_inverse(xy0[:, 0], xy0[:, 1]))
    # session 2 after a power cycle: no marks used, the same chip region scanned
    ins.power.power_cycle()
    ins.laser.set_power(1e-3)
    ins.laser.on()
    z1 = focus_surface(ins.scanner, 0.0, 0.0, z0, span_m=8e-6, n_steps=41)
    xy1, t_mid = spots(0.0, 0.0, z1)
    reg = register([], registry, xy1, prior=reg0.transform)
    assert reg.method == "constellation"
    assert reg.n_inliers >= 0.6 * min(len(xy0), len(xy1))
    for cx, cy in [(0.0, 0.0), (10e-6, -10e-6), (-40e-6, 30e-6)]:
        px, py, cov = reg.fit.predict(cx, cy)
        tx, ty = truth.chip_to_stage(cx, cy, t_mid)
        err = np.array([px - float(tx), py - float(ty)])
        # the registry's own frame error (reg0 from one or two marks) adds to the
        # constellation's: bound by 5σ of the sum of both reported covariances
        cov0 = reg0.fit.predict(cx, cy)[2]
        assert float(err @ np.linalg.solve(cov + cov0, err)) < 25.0
