"""The twin's spectrometer: the emitter's line where it should be, counts, costs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.instruments.sim import spectrometer as sim_spec
from qlight.instruments.sim.spectrometer import SimSpectrometer

SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6, "blinking_fraction": 0.0}


def _on_emitter(seed: int) -> tuple[object, object, object]:
    ins, truth = build_twin(TwinConfig(seed=seed, chip=SMALL_CHIP, spectrometer_dark_cps=0.5))
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
    return ins, truth, e


def test_spectrum_peaks_at_the_zpl_with_the_expected_total() -> None:
    ins, truth, e = _on_emitter(seed=31)
    spec = ins.spectrometer
    grid = spec.wavelength_nm
    pitch = float(grid[1] - grid[0])
    t0 = ins.clock.now_s()
    s = spec.acquire_spectrum(2.0)
    assert ins.clock.now_s() - t0 == pytest.approx(2.0 + sim_spec.READOUT_S)
    assert s.counts.dtype == np.int64
    assert s.exposure_s == 2.0
    assert abs(grid[int(np.argmax(s.counts))] - e.zpl_nm) < 2 * pitch + 0.3
    # independent total: per emitter, detected rate / SPAD efficiency at its ZPL = photons
    # reaching the spectrometer port; × grating·CCD efficiency × spectral weight on the grid
    total = 0.0
    for i, rate in truth.emitter_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m).items():
        pp = truth.chip.emitters[i].photophysics
        port = rate / truth.detector.efficiency_at(pp.zpl_nm)
        total += port * sim_spec.GRATING_CCD_EFFICIENCY * float(np.sum(pp.spectrum(grid)) * pitch)
    _, bg, _ = truth.expected_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
    band = truth.chip.config.zpl_nm
    bg_port = bg / truth.detector.efficiency_at(0.5 * (band[0] + band[1]))
    mean = 2.0 * (total + bg_port * sim_spec.GRATING_CCD_EFFICIENCY + 0.5 * grid.size)
    # Poisson total, 5σ, plus 0.5 % for the Riemann sum vs the blurred pixel integrals
    assert abs(int(s.counts.sum()) - mean) < 5 * math.sqrt(mean) + 5e-3 * mean


def test_counts_are_poisson_around_the_instrument_expectation() -> None:
    ins, _, _ = _on_emitter(seed=32)
    assert isinstance(ins.spectrometer, SimSpectrometer)
    mu = (ins.spectrometer.expected_counts_per_s() + 0.5) * 1.0
    s = ins.spectrometer.acquire_spectrum(1.0)
    k = s.counts.astype(float)
    # χ² over N pixels: mean N, variance Σ(2 + 1/μ); 5σ
    chi2 = float(np.sum((k - mu) ** 2 / mu))
    assert abs(chi2 - mu.size) < 5 * math.sqrt(float(np.sum(2 + 1 / mu)))


def test_laser_off_dark_only_and_bad_exposure() -> None:
    ins, _, _ = _on_emitter(seed=33)
    ins.laser.off()
    s = ins.spectrometer.acquire_spectrum(10.0)
    mean = 0.5 * 10.0 * s.counts.size  # dark 0.5 cps per pixel
    assert abs(int(s.counts.sum()) - mean) < 5 * math.sqrt(mean)
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ParameterError, match="exposure_s"):
            ins.spectrometer.acquire_spectrum(bad)


def test_telecom_grid_covers_the_telecom_band() -> None:
    ins, _ = build_twin(
        TwinConfig(seed=1, preset="telecom", chip={"size_x_m": 40e-6, "size_y_m": 40e-6})
    )
    g = ins.spectrometer.wavelength_nm
    assert g[0] < 1100.0
    assert g[-1] > 1350.0
    assert ins.laser.wavelength_nm == pytest.approx(980.0)
