"""Chip + setup presets of the twin: ``visible`` (Si SPAD, 532 nm) and ``telecom`` (SNSPD).

A preset bundles the chip-configuration defaults, the detector model, the laser wavelength,
the objective (NA, transmission, pinhole), the reflection channel and the stage. Each chip
configuration's ``reference_detection_efficiency`` is computed from the preset's own optics
(in-plane dipole, planar surface) so that the *detected* saturated brightness of a typical
emitter in that setup follows the configured law.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from qlight.errors import ParameterError
from qlight.physics.chipconfig import ChipConfig
from qlight.physics.detectors import INGAAS_SPAD, SI_SPAD, SNSPD, SPADModel
from qlight.physics.optics import Objective, planar_collection_efficiencies
from qlight.physics.reflection import ReflectionChannel
from qlight.physics.stage import StageConfig

__all__ = ["PRESETS", "TELECOM", "TELECOM_INGAAS", "VISIBLE", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """A named chip + setup combination.

    Attributes
    ----------
    name : str
        Lower-case name accepted by :func:`get_preset`.
    chip : ChipConfig
        Chip-configuration defaults (the seed is chosen separately).
    detector : SPADModel
        Single-photon detector of both HBT arms.
    laser_wavelength_m : float
        CW excitation wavelength (also the reflection channel's wavelength).
    objective : Objective
        NA, detection-path transmission, pinhole, focal-shift model.
    reflection : ReflectionChannel
        Photodiode of the reflection channel.
    stage : StageConfig
        Stage, drift and power-cycle parameters.
    description : str
        One line for listings.
    """

    name: str
    chip: ChipConfig
    detector: SPADModel
    laser_wavelength_m: float
    objective: Objective
    reflection: ReflectionChannel
    stage: StageConfig
    description: str


def _calibrated(
    chip: ChipConfig, objective: Objective, detector: SPADModel, zpl_nm: float
) -> ChipConfig:
    """Set η_ref = η_h(NA) × transmission × detector efficiency at the band centre."""
    eta_h, _ = planar_collection_efficiencies(objective.na, chip.refractive_index)
    eta = eta_h * objective.transmission * float(detector.efficiency_at(zpl_nm))
    return dataclasses.replace(chip, reference_detection_efficiency=eta)


def _visible() -> Preset:
    objective = Objective(na=0.9, transmission=0.5, pinhole_m=0.88e-6)
    chip = _calibrated(ChipConfig(), objective, SI_SPAD, 655.0)
    return Preset(
        name="visible",
        chip=chip,
        detector=SI_SPAD,
        laser_wavelength_m=532e-9,
        objective=objective,
        reflection=ReflectionChannel(),
        stage=StageConfig(),
        description="GaN emitters at 600-710 nm, 532 nm laser, NA 0.9, Si SPADs",
    )


def _telecom(detector: SPADModel, name: str, what: str) -> Preset:
    # Telecom GaN emitters (REFERENCES.md): 1.1-1.35 µm, ~1.5 MHz (Zhou et al., Sci. Adv.
    # 2018) down to ~60 kHz fibred with P_sat ≈ 5 mW and a 13 nm line (Lecaron et al.,
    # arXiv:2504.03475). Brightness 500 ± 300 kcps, P_sat 1-5 mW, width 5-15 nm, the 980 nm
    # pump and the Au reflectance ≈ 0.97 there are *estimates*.
    objective = Objective(na=0.9, transmission=0.4, pinhole_m=1.7e-6)
    chip = ChipConfig(
        zpl_nm=(1100.0, 1350.0),
        zpl_fwhm_nm=(5.0, 15.0),
        brightness_mean_per_s=500e3,
        brightness_sd_per_s=300e3,
        p_sat_w=(1e-3, 5e-3),
        mark_reflectance=0.97,
    )
    return Preset(
        name=name,
        chip=_calibrated(chip, objective, detector, 1225.0),
        detector=detector,
        laser_wavelength_m=980e-9,
        objective=objective,
        reflection=ReflectionChannel(),
        stage=StageConfig(),
        description=f"GaN emitters at 1.1-1.35 um, 980 nm laser, NA 0.9, {what}",
    )


VISIBLE = _visible()
TELECOM = _telecom(SNSPD, "telecom", "SNSPDs")
TELECOM_INGAAS = _telecom(INGAAS_SPAD, "telecom-ingaas", "InGaAs SPADs")

#: All presets by name.
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (VISIBLE, TELECOM, TELECOM_INGAAS)}
)


def get_preset(name: str) -> Preset:
    """Return the preset called ``name`` (case-insensitive).

    Raises
    ------
    ParameterError
        If no preset has that name.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in PRESETS:
        raise ParameterError("name", name, f"must be one of {sorted(PRESETS)}")
    return PRESETS[key]
