"""Optics: PSF widths, focal shift, collection efficiency, PL and reflection maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from tests.naive import (
    optics_box_gaussian_fraction,
    optics_collection_efficiency,
    optics_pl_rate_map,
    optics_reflection_map,
)

from qlight.errors import ParameterError
from qlight.physics.chip import BackgroundSpot, Chip, ChipConfig, generate_chip
from qlight.physics.detectors import SI_SPAD
from qlight.physics.marks import decode_mark_bits
from qlight.physics.optics import (
    Objective,
    collection_efficiency,
    confocal_psf,
    detection_efficiencies,
    detection_efficiency,
    focal_shift_factor,
    fresnel_reflectance,
    pl_rate_map,
    planar_collection_efficiencies,
    psf_fwhm_axial_m,
    psf_fwhm_lateral_m,
)
from qlight.physics.reflection import (
    ReflectionChannel,
    reflection_map,
    reflection_sigmas_m,
    sample_reflection,
)

OBJ = Objective()


# ------------------------------------------------------------------------------ PSF


def test_psf_widths_match_references() -> None:
    # REFERENCES.md: ≈ 300 nm at 532 nm, NA 0.9; axial ≈ 1 µm
    assert psf_fwhm_lateral_m(532e-9, 0.9) == pytest.approx(0.51 * 532e-9 / 0.9, rel=1e-12)
    assert psf_fwhm_lateral_m(532e-9, 0.9) == pytest.approx(300e-9, abs=5e-9)
    axial_air = psf_fwhm_axial_m(532e-9, 0.9)
    assert axial_air == pytest.approx(0.88 * 532e-9 / (1 - math.sqrt(1 - 0.81)), rel=1e-12)
    assert 0.7e-6 < axial_air < 1.2e-6
    # inside GaN, seen in stage z (paraxial shift): also ≈ 1 µm
    in_gan = psf_fwhm_axial_m(532e-9, 0.9, 2.4) / focal_shift_factor(0.9, 2.4)
    assert 0.8e-6 < in_gan < 1.3e-6


def test_focal_shift_models() -> None:
    par = focal_shift_factor(0.9, 2.4, model="paraxial")
    psf = focal_shift_factor(0.9, 2.4, model="psf")
    mar = focal_shift_factor(0.9, 2.4, model="marginal")
    assert par == 2.4
    assert par < psf < mar
    assert mar == pytest.approx(math.tan(math.asin(0.9)) / math.tan(math.asin(0.9 / 2.4)))
    for model in ("psf", "marginal"):  # all agree for small NA (corrections O(NA²) ≈ 1e-3)
        assert focal_shift_factor(0.05, 2.4, model=model) == pytest.approx(2.4, rel=3e-3)
    with pytest.raises(ParameterError, match="model"):
        focal_shift_factor(0.9, 2.4, model="nope")  # type: ignore[arg-type]


def test_confocal_psf_is_the_product_of_two_psfs() -> None:
    obj = Objective(pinhole_m=0.0)
    lam = 600e-9

    def psf(dx: float) -> float:
        return float(
            confocal_psf(
                dx, 0.0, 0.0, excitation_wavelength_m=lam, emission_wavelength_m=lam, objective=obj
            )
        )

    assert psf(0.0) == 1.0
    half = brentq(lambda x: psf(x) - 0.5, 1e-9, 1e-6, xtol=1e-15)
    # the square of a Gaussian of FWHM w has FWHM w/sqrt(2)
    assert 2 * half == pytest.approx(psf_fwhm_lateral_m(lam, 0.9) / math.sqrt(2), rel=1e-9)
    wide = Objective(pinhole_m=5e-6)
    big = confocal_psf(
        200e-9, 0, 0, excitation_wavelength_m=lam, emission_wavelength_m=lam, objective=wide
    )
    assert float(big) > psf(200e-9)  # an open pinhole widens the confocal PSF


# ------------------------------------------------------------------------------ collection


@pytest.mark.parametrize(
    ("na", "h", "v", "iso"), [(0.9, 0.04298, 0.00364, 0.02987), (0.7, 0.02638, 0.00124, 0.01800)]
)
def test_collection_reproduces_reference_values(na: float, h: float, v: float, iso: float) -> None:
    eta_h, eta_v = planar_collection_efficiencies(na, 2.4)
    # REFERENCES gives 5 decimals: agreement to half the last digit
    assert eta_h == pytest.approx(h, abs=5e-6)
    assert eta_v == pytest.approx(v, abs=5e-6)
    assert (2 * eta_h + eta_v) / 3 == pytest.approx(iso, abs=5e-6)
    assert float(collection_efficiency(math.pi / 2, na)) == eta_h
    assert float(collection_efficiency(0.0, na)) == pytest.approx(eta_v, rel=1e-12)


@pytest.mark.parametrize("polar", [math.pi / 2, 0.0, 1.0])
def test_collection_matches_vector_integration_oracle(polar: float) -> None:
    oracle = optics_collection_efficiency(polar, 0.9, 2.4, n_grid=300)
    # midpoint rule on a 300×300 grid of a smooth integrand: relative error ≲ 1e-5
    assert float(collection_efficiency(polar, 0.9)) == pytest.approx(oracle, rel=1e-4)


def test_detection_efficiency_is_the_documented_product() -> None:
    chip = generate_chip(ChipConfig(size_x_m=100e-6, size_y_m=100e-6), seed=4)
    vec = detection_efficiencies(chip, OBJ, SI_SPAD)
    for e, eta in zip(chip.emitters, vec, strict=True):
        pp = e.photophysics
        col = min(1.0, float(collection_efficiency(pp.dipole_polar_rad, 0.9)) * e.collection_factor)
        want = col * OBJ.transmission * SI_SPAD.efficiency_at(pp.zpl_nm)
        assert detection_efficiency(e, OBJ, SI_SPAD) == pytest.approx(want, rel=1e-12)
        assert eta == pytest.approx(want, rel=1e-12)
    assert any(e.at_structure for e in chip.emitters)


# ------------------------------------------------------------------------------ PL map


@pytest.fixture(scope="module")
def dense_chip() -> Chip:
    cfg = ChipConfig(size_x_m=30e-6, size_y_m=30e-6, emitter_density_per_m2=0.3e12)
    return generate_chip(cfg, seed=6)


@pytest.mark.parametrize(("depth", "power"), [(0.3e-6, 1e-3), (-0.2e-6, 10e-3)])
def test_pl_rate_map_matches_naive_oracle(dense_chip: Chip, depth: float, power: float) -> None:
    rng = np.random.default_rng(1)
    xs, ys = np.meshgrid(np.linspace(-16e-6, 16e-6, 11), np.linspace(-16e-6, 16e-6, 11))
    xs = np.concatenate([xs.ravel(), [e.x_m for e in dense_chip.emitters[:20]]])
    ys = np.concatenate([ys.ravel(), [e.y_m + 50e-9 for e in dense_chip.emitters[:20]]])
    scale = rng.uniform(0.0, 1.0, len(dense_chip.emitters))
    scale[:5] = 0.0
    extra = (BackgroundSpot(1e-6, 2e-6, 0.3e-6, 1e9, 0.5e-6),)
    got = pl_rate_map(
        dense_chip, xs, ys, depth, power, OBJ, SI_SPAD,
        excitation_wavelength_m=532e-9, emitter_scale=scale, extra_spots=extra,
    )  # fmt: skip
    want = np.array(
        optics_pl_rate_map(
            dense_chip, list(xs), list(ys), depth, power, OBJ, SI_SPAD, 532e-9, list(scale), extra
        )
    )
    # the kernel drops emitters beyond 6 σ_det: relative error < exp(−18) ≈ 1.5e-8 of a peak
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-7 * want.max())
    assert got.shape == xs.shape


def test_pl_rate_map_shape_saturation_and_dark_emitters(dense_chip: Chip) -> None:
    e = dense_chip.emitters[0]
    xs = np.full((2, 3), e.x_m)
    ys = np.full((2, 3), e.y_m)
    depth = e.depth_m / 2.4
    assert pl_rate_map(dense_chip, xs, ys, depth, 1e-3, OBJ, SI_SPAD).shape == (2, 3)
    n = len(dense_chip.emitters)
    only = np.zeros(n)
    only[e.index] = 1.0
    i_inf, p_sat = e.photophysics.saturation()
    eta = detection_efficiency(e, OBJ, SI_SPAD)
    # focus on the emitter (paraxial shift): its own part is η·I∞·P/(P + P_sat) exactly
    for p in (0.1e-3, 1e-3, 10e-3):
        with_e = pl_rate_map(
            dense_chip, [e.x_m], [e.y_m], depth, p, OBJ, SI_SPAD, emitter_scale=only
        )
        without = pl_rate_map(
            dense_chip, [e.x_m], [e.y_m], depth, p, OBJ, SI_SPAD, emitter_scale=np.zeros(n)
        )
        assert float(with_e[0] - without[0]) == pytest.approx(
            eta * i_inf * p / (p + p_sat), rel=1e-9
        )


def test_pl_rate_map_validates_inputs(dense_chip: Chip) -> None:
    with pytest.raises(ParameterError, match="power_w"):
        pl_rate_map(dense_chip, [0.0], [0.0], 0.0, -1.0, OBJ, SI_SPAD)
    with pytest.raises(ParameterError, match="ys_chip_m"):
        pl_rate_map(dense_chip, [0.0, 1.0], [0.0], 0.0, 1e-3, OBJ, SI_SPAD)
    with pytest.raises(ParameterError, match="finite"):
        pl_rate_map(dense_chip, [math.nan], [0.0], 0.0, 1e-3, OBJ, SI_SPAD)
    with pytest.raises(ParameterError, match="emitter_scale"):
        pl_rate_map(dense_chip, [0.0], [0.0], 0.0, 1e-3, OBJ, SI_SPAD, emitter_scale=[1.0])
    with pytest.raises(ParameterError, match="na"):
        Objective(na=1.0)


# ------------------------------------------------------------------------------ reflection


@pytest.fixture(scope="module")
def chip() -> Chip:
    return generate_chip(ChipConfig(), seed=12)


@pytest.mark.parametrize("defocus", [0.2e-6, 4e-6])
def test_reflection_map_matches_naive_oracle(chip: Chip, defocus: float) -> None:
    mark = chip.marks[37]
    g = np.linspace(-3e-6, 3e-6, 13)
    xs, ys = np.meshgrid(mark.x_m + g, mark.y_m + g)
    line = np.linspace(0.0, 20e-6, 41)  # towards the next mark, between the two rows
    xs = np.concatenate([xs.ravel(), mark.x_m + line, [0.0, 99e-6, -120e-6]])
    ys = np.concatenate([ys.ravel(), mark.y_m + 0.5 * line, [0.0, 99e-6, 10e-6]])
    got = reflection_map(chip, xs, ys, defocus, 1e-4, OBJ, excitation_wavelength_m=532e-9)
    sigma, axial = reflection_sigmas_m(532e-9, OBJ, defocus)
    want = optics_reflection_map(chip, list(xs), list(ys), sigma, axial, 1e-4)
    # compare reflectances (the axial factor is ~1e-87 at 4 µm defocus)
    np.testing.assert_allclose(got / (1e-4 * axial), np.array(want) / (1e-4 * axial), rtol=1e-12)
    r_gan = fresnel_reflectance(2.4)
    assert r_gan == pytest.approx((1.4 / 3.4) ** 2)
    if defocus < 1e-6:
        assert float(got[-3]) == pytest.approx(1e-4 * axial * r_gan, rel=1e-12)  # bare GaN
    else:
        assert 8 * sigma > 10e-6  # blur reaches the neighbouring marks: the 3×3 search matters


def test_box_gaussian_integral_matches_brute_force(chip: Chip) -> None:
    obj = Objective(na=0.3)  # wide blur: several cells overlap the spot
    sigma, axial = reflection_sigmas_m(532e-9, obj, 0.0)
    assert axial == 1.0
    mark = chip.marks[63]  # code 0b0111111: the inner cells (1, 1) and (1, 2) are filled
    x, y = mark.x_m + 0.3e-6, mark.y_m - 0.2e-6
    value = float(reflection_map(chip, [x], [y], 0.0, 1.0, obj)[0])
    r_gan = fresnel_reflectance(2.4)
    frac = (value - r_gan) / (chip.config.mark_reflectance - r_gan)
    h = mark.cell_size_m / 2
    brute = sum(
        optics_box_gaussian_fraction(
            x,
            y,
            mark.x_m + dx - h,
            mark.x_m + dx + h,
            mark.y_m + dy - h,
            mark.y_m + dy + h,
            sigma,
            150,
        )
        for dx, dy in mark.cells
    )
    assert frac > 0.1
    # midpoint rule, 150² points per 0.6 µm cell: error O(h²/σ²) ≈ 1e-5
    assert frac == pytest.approx(brute, rel=1e-4)


def test_marks_are_readable_in_the_reflection_channel(chip: Chip) -> None:
    lay = chip.config.marks
    rng = np.random.default_rng(3)
    half = (lay.cells - 1) / 2
    r_gan = fresnel_reflectance(2.4)
    power = 1e-4
    dwell = 1e-3
    for mark in chip.marks[::7]:
        offs = (np.arange(lay.cells) - half) * lay.cell_pitch_m
        gx, gy = np.meshgrid(mark.x_m + offs, mark.y_m + offs)  # [row, col], row 0 lowest y
        expected = reflection_map(chip, gx, gy, 0.0, power, OBJ)
        signal = sample_reflection(
            expected, dwell, rng, channel=ReflectionChannel(), wavelength_m=532e-9
        )
        photon = 6.62607015e-34 * 299792458.0 / 532e-9
        level = power * dwell * 1e-5 / photon * 0.5 * (r_gan + chip.config.mark_reflectance)
        assert decode_mark_bits(signal > level) == mark.index


def test_sample_reflection_statistics() -> None:
    ch = ReflectionChannel()
    p, dwell, n = 2e-5, 1e-3, 20000
    photon = 6.62607015e-34 * 299792458.0 / 532e-9
    mean = p * ch.efficiency * dwell / photon
    var = mean + (ch.relative_intensity_noise * mean) ** 2 + ch.read_noise_e**2
    x = sample_reflection(
        np.full(n, p), dwell, np.random.default_rng(2), channel=ch, wavelength_m=532e-9
    )
    # sample mean SE sqrt(var/n); sample variance relative SE sqrt(2/n)
    assert np.mean(x) == pytest.approx(mean, abs=4 * math.sqrt(var / n))
    assert np.var(x) == pytest.approx(var, rel=4 * math.sqrt(2 / n))
    with pytest.raises(ParameterError, match="dwell_s"):
        sample_reflection([1e-5], 0.0, np.random.default_rng(0), channel=ch, wavelength_m=532e-9)
