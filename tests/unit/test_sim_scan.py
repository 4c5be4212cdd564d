"""The twin's confocal scanner: timing, image statistics, true positions, marks, bleaching."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest
from scipy import ndimage
from tests.naive import sim_scan_expected_counts

from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_twin
from qlight.errors import ParameterError
from qlight.instruments.protocols import OperationCancelled, ScanImage
from qlight.instruments.sim.truth import TwinTruth

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6}
NO_NOISE_STAGE = {"repeatability_m": 0.0, "z_repeatability_m": 0.0}


def _twin(
    seed: int = 7, chip: dict[str, Any] | None = None, **kw: Any
) -> tuple[Instruments, TwinTruth]:
    ins, truth = build_twin(TwinConfig(seed=seed, chip={**SMALL_CHIP, **(chip or {})}, **kw))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    return ins, truth


def _centre(truth: TwinTruth) -> tuple[float, float]:
    x, y = truth.chip_to_stage(0.0, 0.0)
    return float(x), float(y)


def test_scan_costs_moves_dwell_and_flyback() -> None:
    ins, _truth = _twin(stage=NO_NOISE_STAGE, line_flyback_s=0.01)
    ins.stage.move_to(0.0, 0.0, 0.0)
    t0 = ins.clock.now_s()
    nx, ny, step, dwell = 30, 20, 100e-9, 2e-3
    img = ins.scanner.raster_scan(5e-6, -3e-6, nx * step, ny * step, step, dwell)
    assert img.shape == (ny, nx)
    # stage: 1 mm/s, 10 ms settle (StageConfig defaults); start pixel and return to centre
    x0, y0 = img.x_m[0], img.y_m[0]
    to_start = math.hypot(x0, y0) / 1e-3 + 0.01
    back = math.hypot(5e-6 - x0, -3e-6 - y0) / 1e-3 + 0.01
    expected = to_start + ny * (nx * dwell + 0.01) + back
    assert ins.clock.now_s() - t0 == pytest.approx(expected, rel=1e-12)
    assert img.t_start_s == t0
    np.testing.assert_allclose(np.diff(img.line_start_s), nx * dwell + 0.01)
    np.testing.assert_allclose(img.x_m, 5e-6 + (np.arange(nx) - (nx - 1) / 2) * step)
    assert ins.stage.position().x_m == pytest.approx(5e-6)


def test_counts_are_poisson_around_the_expected_map() -> None:
    # no bleaching so the map is static; zero closed-loop noise so the oracle knows positions
    ins, truth = _twin(seed=11, chip={"bleachable_fraction": 0.0}, stage=NO_NOISE_STAGE)
    e = max(
        (e for e in truth.emitters() if abs(e.x_chip_m) < 20e-6 and abs(e.y_chip_m) < 20e-6),
        key=lambda e: e.eta,
    )
    img = ins.scanner.raster_scan(e.x_stage_m, e.y_stage_m, 2e-6, 2e-6, 100e-9, 1e-2, z_m=0.2e-6)
    mu = np.array(
        sim_scan_expected_counts(
            truth, img, objective=truth.objective, detector=truth.detector,
            excitation_wavelength_m=truth.laser_wavelength_m,
            emitter_scale=list(truth.emitter_scale(img.power_w)),
        )
    )  # fmt: skip
    k = img.pl_counts.astype(float)
    assert mu.max() > 20.0 * np.median(mu)  # the emitter is in the image
    # χ² = Σ (k − μ)²/μ over N pixels: mean N, variance Σ (2 + 1/μ) for Poisson counts;
    # a 5σ bound fails with probability < 1e-6 if the counts are Poisson(μ).
    chi2 = float(np.sum((k - mu) ** 2 / mu))
    n = mu.size
    assert abs(chi2 - n) < 5.0 * math.sqrt(float(np.sum(2.0 + 1.0 / mu)))
    # and the test has power: a map 20 % too bright fails it
    chi2_wrong = float(np.sum((k - 1.2 * mu) ** 2 / (1.2 * mu)))
    assert abs(chi2_wrong - n) > 5.0 * math.sqrt(float(np.sum(2.0 + 1.0 / mu)))


def test_local_maxima_sit_at_the_true_emitter_positions() -> None:
    ins, truth = _twin(seed=3, chip={"cluster_probability": 0.0, "spot_density_per_m2": 0.0})
    cx, cy = _centre(truth)
    step = 100e-9
    img = ins.scanner.raster_scan(cx, cy, 30e-6, 30e-6, step, 1e-3, z_m=0.3e-6)
    t_mid = 0.5 * (img.t_start_s + img.t_end_s)
    counts = img.pl_counts.astype(float)
    smooth = ndimage.gaussian_filter(counts, 1.0)
    bg = float(np.median(smooth))
    peaks = (smooth == ndimage.maximum_filter(smooth, size=7)) & (smooth > bg + 15.0)
    iy, ix = np.nonzero(peaks)
    # centroid in a 5×5 box around each maximum, background subtracted
    found = []
    for i, j in zip(iy, ix, strict=True):
        if 2 <= i < counts.shape[0] - 2 and 2 <= j < counts.shape[1] - 2:
            w = np.clip(counts[i - 2 : i + 3, j - 2 : j + 3] - bg, 0.0, None)
            found.append(
                (
                    float(np.sum(w * img.x_m[j - 2 : j + 3][None, :]) / w.sum()),
                    float(np.sum(w * img.y_m[i - 2 : i + 3][:, None]) / w.sum()),
                )
            )
    assert len(found) >= 5
    a = truth.chip.arrays
    xs, ys = truth.chip_to_stage(a.x_m, a.y_m, t_s=t_mid)
    for fx, fy in found:
        d = np.hypot(xs - fx, ys - fy)
        assert d.min() < step, f"maximum at {(fx, fy)} is {d.min():.3g} m from every emitter"
    # every bright, well-separated emitter inside the scan was found
    for e in truth.emitters():
        ex, ey = truth.chip_to_stage(e.x_chip_m, e.y_chip_m, t_s=t_mid)
        inside = abs(ex - cx) < 13e-6 and abs(ey - cy) < 13e-6
        others = np.hypot(xs - ex, ys - ey)
        lonely = np.sort(others)[1] > 1e-6
        sig, _bgr, _ = truth.expected_rates_at(float(ex), float(ey), 0.3e-6)
        if inside and lonely and sig * img.dwell_s > 60.0:
            assert min(math.hypot(fx - ex, fy - ey) for fx, fy in found) < step


def test_marks_are_visible_in_reflection() -> None:
    ins, truth = _twin(seed=5)
    mark = truth.marks()[4]
    mx, my = truth.chip_to_stage(mark.x_m, mark.y_m)
    step = 100e-9
    img = ins.scanner.raster_scan(float(mx), float(my), 6e-6, 6e-6, step, 1e-4, z_m=0.0)
    r = img.reflection
    gan = float(np.median(r))  # most of the field is bare GaN

    def at(dx: float, dy: float) -> float:
        sx, sy = truth.chip_to_stage(mark.x_m + dx, mark.y_m + dy)
        j = int(np.argmin(np.abs(img.x_m - sx)))
        i = int(np.argmin(np.abs(img.y_m - sy)))
        return float(r[i, j])

    # filled cells reflect like gold (0.7) against GaN (0.17): > 2.5× after PSF blur
    for dx, dy in mark.cells:
        assert at(dx, dy) > 2.5 * gan
    # the empty orientation corner (top right) reads like bare GaN
    half = 1.5 * truth.chip.config.marks.cell_pitch_m
    assert at(half, half) < 1.5 * gan


def test_a_scan_consumes_the_bleaching_budget_and_dark_afterwards() -> None:
    ins, truth = _twin(
        seed=2, chip={"bleachable_fraction": 1.0, "mean_photon_budget": 3e6}, stage=NO_NOISE_STAGE
    )
    cands = [
        e
        for e in truth.emitters()
        if e.cluster < 0 and not e.blinking and math.isfinite(e.remaining_budget)
    ]
    e = max(cands, key=lambda e: e.eta)
    before = e.remaining_budget
    # first a short-dwell scan that spends part of the budget
    ins.scanner.raster_scan(e.x_stage_m, e.y_stage_m, 1e-6, 1e-6, 100e-9, 1e-5, z_m=e.z_stage_m)
    after = truth.emitters()[e.index]
    spent = before - after.remaining_budget
    assert 0.0 < spent < before
    # a long dwell scan exhausts it: the emitter goes dark within the image
    img = ins.scanner.raster_scan(e.x_stage_m, e.y_stage_m, 2e-6, 2e-6, 50e-9, 0.2, z_m=e.z_stage_m)
    assert truth.bleached()[e.index]
    sig, _bg, _reg = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    assert sig == 0.0
    # last line mean ≈ background + dark, far below the peak of the emitter
    assert img.pl_counts[-1].mean() < 0.2 * img.pl_counts.max()


def test_spent_photons_match_the_expected_emission() -> None:
    ins, truth = _twin(
        seed=4, chip={"bleachable_fraction": 1.0, "mean_photon_budget": 1e12}, stage=NO_NOISE_STAGE
    )
    e = next(e for e in truth.emitters() if not e.blinking and abs(e.x_chip_m) < 20e-6)
    before = truth.emitters()[e.index].remaining_budget
    dwell, step = 1e-3, 100e-9
    img = ins.scanner.raster_scan(
        e.x_stage_m, e.y_stage_m, 2e-6, 2e-6, step, dwell, z_m=e.z_stage_m
    )
    pp = truth.chip.emitters[e.index].photophysics
    # oracle: Σ_pixels emission_rate(P·E)·dwell with E the excitation PSF (FWHM 0.51λ/NA,
    # axial 0.88λ/(n − √(n² − NA²)), paraxial focal shift), written out
    na, n = truth.objective.na, truth.chip.config.refractive_index
    fwhm = 2.0 * math.sqrt(2.0 * math.log(2.0))
    s_xy = 0.51 * truth.laser_wavelength_m / na / fwhm
    s_z = 0.88 * truth.laser_wavelength_m / (n - math.sqrt(n * n - na * na)) / fwhm
    total = 0.0
    for i, y in enumerate(img.y_m):
        for j, x in enumerate(img.x_m):
            t = img.line_start_s[i] + (j + 0.5) * dwell
            xc, yc = truth.stage_to_chip(x, y, t_s=t)
            zf = n * (img.z_m - truth.focus_offset_m - truth.drift_m(t)[2])
            ex = math.exp(
                -((xc - e.x_chip_m) ** 2 + (yc - e.y_chip_m) ** 2) / (2 * s_xy**2)
                - (e.depth_m - zf) ** 2 / (2 * s_z**2)
            )
            total += pp.emission_rate_at(img.power_w * ex) * dwell
    spent = before - truth.emitters()[e.index].remaining_budget
    # the twin renders the depth per group of lines (5 nm) and the drift per pixel: 1e-3
    assert spent == pytest.approx(total, rel=1e-3)


def test_progress_and_cancellation() -> None:
    ins, truth = _twin(chip={"bleachable_fraction": 1.0, "mean_photon_budget": 1e12})
    cx, cy = _centre(truth)
    calls: list[tuple[int, int]] = []
    ins.scanner.raster_scan(
        cx, cy, 2e-6, 1e-6, 100e-9, 1e-4, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(i, 10) for i in range(1, 11)]

    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 4:
            stop.set()

    budgets = [e.remaining_budget for e in truth.emitters()]
    t0 = ins.clock.now_s()
    with pytest.raises(OperationCancelled, match="after 4 of 10"):
        ins.scanner.raster_scan(cx, cy, 2e-6, 1e-6, 100e-9, 1e-2, progress=progress, cancel=stop)
    elapsed = ins.clock.now_s() - t0
    # 4 lines of 20 px × 10 ms + flyback, plus the move to the start (< 20 ms)
    assert 4 * (0.2 + 0.005) <= elapsed < 4 * (0.2 + 0.005) + 0.02
    spent = sum(b - e.remaining_budget for b, e in zip(budgets, truth.emitters(), strict=True))
    assert spent >= 0.0
    with pytest.raises(OperationCancelled):
        ins.scanner.raster_scan(cx, cy, 2e-6, 1e-6, 100e-9, 1e-2, cancel=stop)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"step_m": 0.0}, "step_m"),
        ({"dwell_s": -1e-3}, "dwell_s"),
        ({"dwell_s": math.nan}, "dwell_s"),
        ({"width_m": -1e-6}, "width_m"),
        ({"x_center_m": 5e-3}, "x_center_m"),
    ],
)
def test_bad_scan_parameters(kw: dict[str, float], name: str) -> None:
    ins, _ = _twin()
    args = {"x_center_m": 0.0, "y_center_m": 0.0, "width_m": 1e-6, "height_m": 1e-6,
            "step_m": 1e-7, "dwell_s": 1e-3} | kw  # fmt: skip
    with pytest.raises(ParameterError, match=name):
        ins.scanner.raster_scan(**args)


def test_same_seed_same_image_and_laser_off_is_dark() -> None:
    imgs: list[ScanImage] = []
    for _ in range(2):
        ins, truth = _twin(seed=9)
        imgs.append(ins.scanner.raster_scan(*_centre(truth), 5e-6, 5e-6, 200e-9, 1e-3))
    np.testing.assert_array_equal(imgs[0].pl_counts, imgs[1].pl_counts)
    np.testing.assert_array_equal(imgs[0].reflection, imgs[1].reflection)
    ins, truth = _twin(seed=10)
    other = ins.scanner.raster_scan(*_centre(truth), 5e-6, 5e-6, 200e-9, 1e-3)
    assert not np.array_equal(other.pl_counts, imgs[0].pl_counts)
    ins.laser.off()
    dark = ins.scanner.raster_scan(*_centre(truth), 5e-6, 5e-6, 200e-9, 1e-3)
    assert dark.power_w == 0.0
    # only dark counts: 2 detectors × 100 cps × 1 ms = 0.2 per pixel; Poisson mean of 625
    # pixels has sd sqrt(0.2/625) = 0.018: 5σ bound
    assert abs(dark.pl_counts.mean() - 0.2) < 5 * math.sqrt(0.2 / dark.pl_counts.size)


def test_vectorised_registered_rate_matches_the_scalar_forms() -> None:
    from tests.naive import sim_registered_rate

    from qlight.instruments.sim.scanner import registered_rates_per_s
    from qlight.physics.detectors import INGAAS_SPAD, SI_SPAD, SNSPD, registered_rate_per_s

    rates = np.array([0.0, 1.0, 1e3, 1e5, 3e6, 5e7])
    for det in (SI_SPAD, INGAAS_SPAD, SNSPD):
        got = registered_rates_per_s(rates, det)
        for r, g in zip(rates, got, strict=True):
            assert g == pytest.approx(registered_rate_per_s(float(r), det), rel=1e-12, abs=0.0)
            assert g == pytest.approx(sim_registered_rate(float(r), det), rel=1e-12, abs=0.0)
    # dead time caps the rate at 1/τd
    assert registered_rates_per_s(np.array([1e12]), SI_SPAD)[0] < 1.0 / 22e-9
