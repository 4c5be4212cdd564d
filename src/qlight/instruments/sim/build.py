"""Building a :class:`~qlight.instruments.sim.world.TwinWorld` from plain settings.

Used by the composition root (:func:`qlight.device.factory.build_instruments`), which may not
import the physics of the twin itself. Overrides are plain mappings (from configuration
files); nested dataclass fields take nested mappings and lists become tuples.

The sample mount at the first power-on is drawn from the ``mount`` stream: the chip centre
lies uniformly within ±20 µm of the stage origin, rotated uniformly within ±1°, with a
scale error N(0, 1e-4), and the surface is in focus at a stage z uniform within ±0.5 µm of 0
(the installation calibrates z to the surface to that accuracy). All four are *estimates*.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from qlight.errors import ConfigurationError
from qlight.instruments.sim.clock import Pace, SimClock
from qlight.instruments.sim.world import LaserState, TwinWorld, WorldRngs
from qlight.physics.chip import Chip, generate_chip
from qlight.physics.detectors import TimeTaggerModel
from qlight.physics.presets import get_preset
from qlight.physics.stage import FrameTransform, StageModel

__all__ = ["MOUNT_OFFSET_M", "MOUNT_ROTATION_RAD", "apply_overrides", "create_world"]

T = TypeVar("T")

#: Half range of the initial chip-centre position in the stage frame, m. *Estimate*.
MOUNT_OFFSET_M = 20e-6
#: Half range of the initial rotation, rad. *Estimate*.
MOUNT_ROTATION_RAD = math.radians(1.0)
#: 1σ of the initial scale error. *Estimate*.
MOUNT_SCALE_SD = 1e-4
#: Half range of the initial surface-focus offset, m. *Estimate*.
MOUNT_FOCUS_M = 0.5e-6


def apply_overrides(base: T, overrides: Mapping[str, Any], what: str) -> T:
    """Return ``dataclasses.replace(base, **overrides)`` with nested mappings and lists.

    Raises :class:`~qlight.errors.ConfigurationError` for unknown fields; the dataclass
    validators raise :class:`~qlight.errors.ParameterError` for bad values.
    """
    if not dataclasses.is_dataclass(base) or isinstance(base, type):
        raise ConfigurationError(f"{what}: cannot override {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigurationError(f"{what}: unknown field {key!r} (known: {sorted(names)})")
        current = getattr(base, key)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            value = apply_overrides(current, value, f"{what}.{key}")
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        changes[key] = value
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as exc:
        raise ConfigurationError(f"{what}: {exc}") from None


def create_world(
    *,
    preset: str = "visible",
    seed: int = 0,
    chip_overrides: Mapping[str, Any] | None = None,
    chip_file: Path | None = None,
    stage_overrides: Mapping[str, Any] | None = None,
    pace: Pace = "fast",
    line_flyback_s: float = 5e-3,
    laser_max_power_w: float = 20e-3,
    acquisition_chunk_s: float = 1.0,
    tagger_resolution_ps: int = 1,
    sleep: Callable[[float], None] | None = None,
) -> TwinWorld:
    """Create the twin world of a preset and seed (see the module docstring).

    ``chip_file`` loads a saved chip instead of generating one (its own seed and configuration
    then define the sample; ``seed`` still drives the mount, noise and photon streams).
    ``sleep`` replaces :func:`time.sleep` for realtime pacing (tests).
    """
    p = get_preset(preset)
    if chip_file is not None:
        if chip_overrides:
            raise ConfigurationError("chip overrides cannot be combined with a chip file")
        chip = Chip.load(chip_file)
    else:
        chip = generate_chip(apply_overrides(p.chip, chip_overrides or {}, "chip"), seed)
    stage_cfg = apply_overrides(p.stage, stage_overrides or {}, "stage")
    rngs = WorldRngs.from_seed(seed)
    m = rngs.mount
    transform = FrameTransform(
        tx_m=float(m.uniform(-MOUNT_OFFSET_M, MOUNT_OFFSET_M)),
        ty_m=float(m.uniform(-MOUNT_OFFSET_M, MOUNT_OFFSET_M)),
        rotation_rad=float(m.uniform(-MOUNT_ROTATION_RAD, MOUNT_ROTATION_RAD)),
        scale=1.0 + MOUNT_SCALE_SD * float(m.standard_normal()),
    )
    focus = float(m.uniform(-MOUNT_FOCUS_M, MOUNT_FOCUS_M))
    stage = StageModel(stage_cfg, transform, rngs.stage, focus_offset_m=focus)
    clock = SimClock(pace) if sleep is None else SimClock(pace, sleep=sleep)
    laser = LaserState(
        wavelength_nm=p.laser_wavelength_m * 1e9, max_power_w=laser_max_power_w, power_w=1e-3
    )
    return TwinWorld(
        chip=chip,
        stage=stage,
        objective=p.objective,
        detector=p.detector,
        tagger=TimeTaggerModel(resolution_ps=tagger_resolution_ps, channel_delays_ps=(0, 0)),
        reflection=p.reflection,
        laser=laser,
        clock=clock,
        rngs=rngs,
        line_flyback_s=line_flyback_s,
        acquisition_chunk_s=acquisition_chunk_s,
    )
