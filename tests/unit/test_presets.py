"""Presets: names, contents, and the brightness calibration against the preset's optics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.physics.chip import generate_chip
from qlight.physics.detectors import INGAAS_SPAD, SI_SPAD, SNSPD, SPADModel
from qlight.physics.optics import (
    collection_efficiency,
    detection_efficiencies,
    planar_collection_efficiencies,
)
from qlight.physics.presets import (
    PRESETS,
    TELECOM,
    TELECOM_INGAAS,
    VISIBLE,
    Preset,
    get_preset,
)


def test_get_preset_by_name() -> None:
    assert get_preset("visible") is VISIBLE
    assert get_preset(" Telecom ") is TELECOM
    assert get_preset("TELECOM-INGAAS") is TELECOM_INGAAS
    assert set(PRESETS) == {"visible", "telecom", "telecom-ingaas"}
    with pytest.raises(ParameterError, match=r"^name='uv' must be one of"):
        get_preset("uv")
    with pytest.raises(TypeError):
        PRESETS["x"] = VISIBLE  # type: ignore[index]


def test_visible_preset_contents() -> None:
    p = VISIBLE
    assert p.detector is SI_SPAD
    assert p.laser_wavelength_m == 532e-9
    assert p.objective.na == 0.9
    assert p.chip.zpl_nm == (600.0, 710.0)
    eta_h, _ = planar_collection_efficiencies(0.9, 2.4)
    eta = eta_h * p.objective.transmission * SI_SPAD.efficiency_at(655.0)
    assert p.chip.reference_detection_efficiency == pytest.approx(eta, rel=1e-12)


@pytest.mark.parametrize(("preset", "detector"), [(TELECOM, SNSPD), (TELECOM_INGAAS, INGAAS_SPAD)])
def test_telecom_presets_contents(preset: Preset, detector: SPADModel) -> None:
    assert preset.detector is detector
    lo, hi = preset.chip.zpl_nm
    assert (lo, hi) == (1100.0, 1350.0)
    lam_nm = preset.laser_wavelength_m * 1e9
    assert lam_nm < lo  # pump below the emission band (Stokes excitation)
    assert detector.efficiency_at(lo) > 0.1
    assert detector.efficiency_at(hi) > 0.1
    assert SNSPD.jitter_fwhm_ps < 100.0  # REFERENCES: SNSPD jitter < 100 ps
    assert INGAAS_SPAD.dead_time_ps >= 1_000_000  # REFERENCES: InGaAs dead time µs


@pytest.mark.parametrize("preset", [VISIBLE, TELECOM])
def test_brightness_is_calibrated_to_the_preset_optics(preset: Preset) -> None:
    """Detected saturated rate of planar emitters: mean = mean brightness × mean(η/η_ref)."""
    chip = generate_chip(preset.chip, seed=21)
    cfg = chip.config
    a = chip.arrays
    planar = np.array([not e.at_structure for e in chip.emitters])
    eta = detection_efficiencies(chip, preset.objective, preset.detector)
    detected = (eta * a.i_inf_per_s)[planar]
    ratio = (eta / cfg.reference_detection_efficiency)[planar]
    # brightness draws are independent of tilt and ZPL: E[detected] = mean × E[ratio]
    expected = cfg.brightness_mean_per_s * float(np.mean(ratio))
    se = cfg.brightness_sd_per_s * float(np.sqrt(np.mean(ratio**2))) / math.sqrt(detected.size)
    assert float(np.mean(detected)) == pytest.approx(expected, abs=4 * se)
    # the ratio is near 1: tilt (10° sd) and detector curve move it by a few per cent only
    eta_h = planar_collection_efficiencies(0.9, 2.4)[0]
    tilt = collection_efficiency(
        np.array([e.photophysics.dipole_polar_rad for e in chip.emitters]), 0.9
    )
    assert 0.9 < float(np.mean(tilt / eta_h)) <= 1.0
    assert 0.85 < float(np.mean(ratio)) < 1.1
