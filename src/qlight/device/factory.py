"""Composition root: the one place that chooses and builds the instrument backend.

Everything above the instruments layer receives an :class:`Instruments` bundle whose fields
are typed with the protocols of :mod:`qlight.instruments.protocols`; nothing else knows which
backend runs. Today the only backend is the digital twin (:mod:`qlight.instruments.sim`),
configured by :class:`~qlight.device.config.TwinConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qlight.device.config import TwinConfig
from qlight.instruments.protocols import (
    Clock,
    Laser,
    Power,
    Scanner,
    Spectrometer,
    Stage,
    Thermometer,
    TimeTagger,
)
from qlight.instruments.sim.build import create_world
from qlight.instruments.sim.laser import SimLaser
from qlight.instruments.sim.power import SimPower
from qlight.instruments.sim.scanner import SimScanner
from qlight.instruments.sim.spectrometer import SimSpectrometer
from qlight.instruments.sim.stage import SimStage
from qlight.instruments.sim.tagger import SimTimeTagger
from qlight.instruments.sim.thermometer import SimThermometer
from qlight.instruments.sim.truth import TwinTruth

__all__ = ["Instruments", "build_instruments", "build_twin"]


@dataclass(frozen=True, slots=True)
class Instruments:
    """The instruments of one microscope, as control code sees them (protocols only)."""

    stage: Stage
    scanner: Scanner
    laser: Laser
    tagger: TimeTagger
    spectrometer: Spectrometer
    thermometer: Thermometer
    power: Power
    clock: Clock


def build_instruments(config: TwinConfig | None = None) -> Instruments:
    """Build the instruments described by ``config`` (default: ``TwinConfig()``).

    Raises
    ------
    qlight.errors.ConfigurationError
        For unknown override fields or a chip file combined with chip overrides.
    qlight.errors.ParameterError
        For override values outside their domain.
    qlight.errors.FileFormatError
        For an unreadable chip file.
    """
    return build_twin(config)[0]


def build_twin(config: TwinConfig | None = None) -> tuple[Instruments, TwinTruth]:
    """Build the twin's instruments and its ground-truth interface.

    FOR TESTS AND THE EVALUATION HARNESS ONLY: control code must use
    :func:`build_instruments` and never see the :class:`TwinTruth`.
    """
    cfg = TwinConfig() if config is None else config
    world = create_world(
        preset=cfg.preset,
        seed=cfg.seed,
        chip_overrides=cfg.chip,
        chip_file=cfg.chip_file,
        stage_overrides=cfg.stage,
        pace=cfg.pace,
        line_flyback_s=cfg.line_flyback_s,
        laser_max_power_w=cfg.laser_max_power_w,
        acquisition_chunk_s=cfg.acquisition_chunk_s,
        tagger_resolution_ps=cfg.tagger_resolution_ps,
    )
    instruments = Instruments(
        stage=SimStage(world),
        scanner=SimScanner(world),
        laser=SimLaser(world),
        tagger=SimTimeTagger(world),
        spectrometer=SimSpectrometer(
            world,
            n_pixels=cfg.spectrometer_pixels,
            resolution_nm=cfg.spectrometer_resolution_nm,
            dark_cps=cfg.spectrometer_dark_cps,
        ),
        thermometer=SimThermometer(world),
        power=SimPower(world),
        clock=world.clock,
    )
    return instruments, TwinTruth(world)
