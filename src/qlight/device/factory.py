"""Composition root: the one place that chooses and builds the instrument backend.

Everything above the instruments layer receives an :class:`Instruments` bundle whose fields
are typed with the protocols of :mod:`qlight.instruments.protocols`; nothing else knows which
backend runs. Today the only backend is the digital twin (:mod:`qlight.instruments.sim`),
configured by :class:`~qlight.device.config.TwinConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qlight.device.config import TwinConfig
from qlight.errors import ParameterError
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
from qlight.instruments.sim.faults import SimFaults
from qlight.instruments.sim.laser import SimLaser
from qlight.instruments.sim.power import SimPower
from qlight.instruments.sim.scanner import SimScanner
from qlight.instruments.sim.spectrometer import SimSpectrometer
from qlight.instruments.sim.stage import SimStage
from qlight.instruments.sim.tagger import SimTimeTagger
from qlight.instruments.sim.thermometer import SimThermometer
from qlight.instruments.sim.truth import TwinTruth
from qlight.instruments.sim.world import TwinWorld

__all__ = [
    "FaultInjector",
    "Instruments",
    "build_device_backend",
    "build_instruments",
    "build_twin",
]

#: Tag of the per-boot homing streams (``SeedSequence([seed, _BOOT_TAG, boot])``).
_BOOT_TAG = 0xB0_07


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


class FaultInjector(Protocol):
    """Twin-only handle that injects instrument faults (``laser_drop``, ``bleach``, ...)."""

    def inject(self, kind: str) -> str:
        """Inject the fault now; return a description of what happened."""
        ...


def build_device_backend(
    config: TwinConfig | None = None, *, boot: int = 0
) -> tuple[Instruments, FaultInjector]:
    """Instruments for the device service, plus the twin's fault injector.

    ``boot`` is the device's persistent boot counter: boot ``n > 0`` is the same chip and
    mount (same ``config.seed``) after ``n`` power cycles, each with a fresh homing error
    drawn from ``SeedSequence([seed, tag, n])`` (a restarted service is a power cycle of the
    instrument, not the same draw again). ``boot = 0`` is the first power-on.
    """
    ins, _, world = _build(config, boot)
    return ins, SimFaults(world)


def build_twin(config: TwinConfig | None = None, *, boot: int = 0) -> tuple[Instruments, TwinTruth]:
    """Build the twin's instruments and its ground-truth interface (``boot``: see
    :func:`build_device_backend`).

    FOR TESTS AND THE EVALUATION HARNESS ONLY: control code must use
    :func:`build_instruments` and never see the :class:`TwinTruth`.
    """
    ins, truth, _ = _build(config, boot)
    return ins, truth


def _build(config: TwinConfig | None, boot: int = 0) -> tuple[Instruments, TwinTruth, TwinWorld]:
    if isinstance(boot, bool) or not isinstance(boot, int) or boot < 0:
        raise ParameterError("boot", boot, "must be an integer >= 0")
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
    if boot > 0:
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _BOOT_TAG, boot]))
        world.rngs = dataclasses.replace(world.rngs, power=rng)
        world.power_cycle(0.0)
    return instruments, TwinTruth(world), world
