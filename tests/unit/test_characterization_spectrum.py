"""Spectrum fit: ZPL centre and width, Debye–Waller factor (validated on the twin)."""

from __future__ import annotations

import numpy as np
import pytest
from tests import naive

from qlight.characterization.devfit import deviance_residuals
from qlight.characterization.spectrum import fit_spectrum, spectrum_model
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6, "blinking_fraction": 0.0}


def test_model_matches_the_brute_force_convolution() -> None:
    lam = 640.0 + 0.25 * np.arange(80)
    params = [1e5, 0.6, 648.0, 4.0, 20.0, 15.0, 3.0]
    got = spectrum_model(lam, params, resolution_nm=0.5)
    want = np.array(naive.char_spectrum_pixels(list(lam), params, 0.5, sub=10))
    # Midpoint rule on half pixels (h = 0.125 nm): relative error ≈ h²/24 · |f''/f| with
    # |f''/f| <= 2/(Γ/2)² = 0.5 /nm² at the ZPL peak -> 3e-4; 2e-3 of the peak leaves room
    # for the oracle's own quadrature (step 0.025 nm).
    assert np.max(np.abs(got - want)) < 2e-3 * want.max()


def test_deviance_residuals_square_to_the_poisson_deviance() -> None:
    n = np.array([0.0, 1.0, 5.0, 30.0])
    mu = np.array([0.5, 2.0, 5.0, 20.0])
    r = deviance_residuals(n, mu)
    dev = [2 * (m - k + (k * np.log(k / m) if k > 0 else 0.0)) for k, m in zip(n, mu, strict=True)]
    np.testing.assert_allclose(r**2, dev, rtol=1e-12)
    assert np.all(np.sign(r[[0, 1, 3]]) == [-1, -1, 1])


@pytest.fixture(scope="module")
def twin_spectrum() -> tuple[object, object]:
    ins, truth = build_twin(TwinConfig(seed=31, chip=SMALL_CHIP, spectrometer_dark_cps=0.5))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    a = truth.chip.arrays
    e = max(
        (
            e
            for e in truth.emitters()
            if e.cluster < 0 and np.sort(np.hypot(a.x_m - e.x_chip_m, a.y_m - e.y_chip_m))[1] > 2e-6
        ),
        key=lambda e: e.eta,
    )
    ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    rates = truth.emitter_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    assert len(rates) == 1  # one emitter in the focus: its parameters are the truth
    pp = truth.chip.emitters[next(iter(rates))].photophysics
    return ins.spectrometer.acquire_spectrum(2.0), (pp, truth.chip.config.zpl_nm)


def test_twin_truth_lies_in_the_intervals(twin_spectrum: tuple[object, object]) -> None:
    spec, (pp, band) = twin_spectrum
    f = fit_spectrum(spec.wavelength_nm, spec.counts, resolution_nm=spec.resolution_nm,
                     band_nm=band)  # fmt: skip
    for est, truth in ((f.zpl_nm, pp.zpl_nm), (f.zpl_fwhm_nm, pp.zpl_fwhm_nm),
                       (f.debye_waller, pp.debye_waller)):  # fmt: skip
        assert isinstance(est, Estimate)
        assert est.ci95[0] < est.value < est.ci95[1]
        assert est.contains(truth), (est, truth)
    # A good fit: deviance within 5 σ of its χ² mean.
    assert abs(f.deviance - f.dof) < 5 * np.sqrt(2 * f.dof)
    assert f.psb_shift_mev == pytest.approx(pp.psb_shift_mev, abs=2.0)
    assert f.emitter_counts > 0.9 * (spec.counts.sum() - spec.counts.min() * spec.counts.size)


def test_too_few_counts_and_a_flat_spectrum_are_not_determined() -> None:
    lam = 600.0 + 0.1 * np.arange(200)
    rng = np.random.default_rng(5)
    few = fit_spectrum(lam, rng.poisson(0.5, 200), resolution_nm=0.5)
    assert isinstance(few.zpl_nm, Undetermined)
    assert "counts above the floor" in few.zpl_nm.reason
    # 200 counts per pixel, no line: the likelihood ratio must not support one.
    flat = fit_spectrum(lam, rng.poisson(200.0, 200), resolution_nm=0.5, min_counts=0.0)
    assert isinstance(flat.debye_waller, Undetermined)
    assert "no emission line" in flat.debye_waller.reason


def test_bad_input_raises() -> None:
    lam = 600.0 + 0.1 * np.arange(50)
    with pytest.raises(ParameterError):
        fit_spectrum(lam, np.ones(49), resolution_nm=0.5)
    with pytest.raises(ParameterError):
        fit_spectrum(lam[::-1], np.ones(50), resolution_nm=0.5)
    with pytest.raises(ParameterError):
        fit_spectrum(lam, -np.ones(50), resolution_nm=0.5)
    with pytest.raises(ParameterError):
        fit_spectrum(lam, np.ones(50), resolution_nm=0.0)
