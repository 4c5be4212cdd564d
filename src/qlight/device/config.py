"""Configuration of the instrument backend the composition root builds.

Only :mod:`qlight.device.factory` interprets it. The model is deliberately free of twin
types (control code may not import :mod:`qlight.physics.chip` or :mod:`qlight.physics.stage`,
see docs/architecture.md): chip and stage overrides are plain mappings of field names to
values, validated against the physics models when the twin is built (an unknown field or a
bad value raises :class:`~qlight.errors.ConfigurationError` /
:class:`~qlight.errors.ParameterError` from :func:`qlight.device.factory.build_instruments`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TwinConfig"]


class TwinConfig(BaseModel):
    """Configuration of the digital-twin backend.

    A twin is fully determined by ``(preset, seed, overrides)`` (or by a chip file plus the
    seed, which then drives the stage, the instruments' noise and photon streams).

    Attributes
    ----------
    preset : {"visible", "telecom", "telecom-ingaas"}
        Chip + setup preset of :func:`qlight.physics.presets.get_preset` (telecom uses
        SNSPDs, telecom-ingaas InGaAs SPADs).
    seed : int
        Master seed; every subsystem draws from its own generator spawned from it.
    chip : dict
        Overrides of the preset's chip-configuration fields (``{"size_m": 50e-6}``).
    chip_file : Path or None
        Load this chip file (``Chip.save`` format) instead of generating a chip.
    stage : dict
        Overrides of the preset's stage-configuration fields.
    pace : {"fast", "realtime"}
        Clock pacing: as fast as possible, or sleeping so simulated time ≤ wall time.
    line_flyback_s : float
        Scanner flyback time per scan line (time to return to the line start and settle).
    laser_max_power_w : float
        Maximum laser power at the sample.
    spectrometer_pixels : int
        Number of CCD pixels of the spectrometer.
    spectrometer_resolution_nm : float
        Spectral resolution (FWHM of the Gaussian instrument function).
    spectrometer_dark_cps : float
        Dark counts per pixel per second of the spectrometer CCD.
    tagger_resolution_ps : int
        Time-tagger resolution (1–8 ps for current taggers, REFERENCES.md).
    acquisition_chunk_s : float
        Time tags are generated in chunks of this simulated length; drift and focus are
        re-evaluated per chunk, and progress/cancellation act between chunks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: Literal["visible", "telecom", "telecom-ingaas"] = "visible"
    seed: int = Field(default=0, ge=0)
    chip: dict[str, Any] = Field(default_factory=dict)
    chip_file: Path | None = None
    stage: dict[str, Any] = Field(default_factory=dict)
    pace: Literal["fast", "realtime"] = "fast"
    line_flyback_s: float = Field(default=5e-3, ge=0.0, allow_inf_nan=False)
    laser_max_power_w: float = Field(default=20e-3, gt=0.0, allow_inf_nan=False)
    spectrometer_pixels: int = Field(default=1024, ge=16, le=65536)
    spectrometer_resolution_nm: float = Field(default=0.5, gt=0.0, allow_inf_nan=False)
    spectrometer_dark_cps: float = Field(default=0.01, ge=0.0, allow_inf_nan=False)
    tagger_resolution_ps: int = Field(default=1, ge=1, le=1000)
    acquisition_chunk_s: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
