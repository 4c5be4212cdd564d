"""Fault injection into the twin (tests and demos of the device's recovery).

The device service reaches this only through the composition root
(:func:`qlight.device.factory.build_device_backend`), typed with the
:class:`qlight.device.factory.FaultInjector` protocol; control code never sees the world.
Each fault is a physical event in the shared :class:`~qlight.instruments.sim.world.TwinWorld`:

* ``laser_drop`` — the laser's output falls to :data:`LASER_DROP_FRACTION` of its set point
  (a pump diode ageing step or an attenuator slip); its power reading shows it;
* ``detector_saturation`` — stray light of :data:`STRAY_RATE_PER_S` reaches both detectors
  for :data:`STRAY_DURATION_S` (room light, an open enclosure);
* ``stage_error`` — the sample moves by :data:`STAGE_JUMP_M` relative to the encoders (a
  slip of the closed loop); only a new registration finds the frame again;
* ``bleach`` — every emitter the focus reaches now bleaches permanently.

All values are *estimates* chosen to exercise the recovery paths, not measured rates.
"""

from __future__ import annotations

import dataclasses
import math

from qlight.errors import ParameterError
from qlight.instruments.sim.world import TwinWorld

__all__ = [
    "FAULT_KINDS",
    "LASER_DROP_FRACTION",
    "STAGE_JUMP_M",
    "STRAY_DURATION_S",
    "STRAY_RATE_PER_S",
    "SimFaults",
]

FAULT_KINDS = ("laser_drop", "detector_saturation", "stage_error", "bleach")
#: Laser output after a drop, relative to the set point.
LASER_DROP_FRACTION = 0.1
#: Stray-light count rate (both detectors together) of a saturation event, counts/s.
STRAY_RATE_PER_S = 2e7
#: Duration of a saturation event, simulated s.
STRAY_DURATION_S = 3.0
#: Lateral slip of the sample relative to the stage encoders, m.
STAGE_JUMP_M = 4e-6
#: Emitters with excitation × detection PSF factor above this bleach with ``bleach``.
_BLEACH_FACTOR = 0.01
#: Direction of the slip in the stage frame, rad (arbitrary, fixed for reproducibility).
_SLIP_DIRECTION_RAD = 0.6


class SimFaults:
    """Injects the faults of the module docstring into ``world``."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    def inject(self, kind: str) -> str:
        """Inject ``kind`` now; return what happened (for the event log).

        Raises
        ------
        qlight.errors.ParameterError
            An unknown fault kind.
        """
        w = self._world
        if kind == "laser_drop":
            w.laser.power_w *= LASER_DROP_FRACTION
            return f"laser output dropped to {LASER_DROP_FRACTION:.0%} of its set point"
        if kind == "detector_saturation":
            w.stray_light_until_s = w.clock.now_s() + STRAY_DURATION_S
            w.stray_light_rate_per_s = STRAY_RATE_PER_S
            return f"stray light {STRAY_RATE_PER_S:.2g} cps for {STRAY_DURATION_S:g} s"
        if kind == "stage_error":
            t = w.stage.transform
            w.stage.transform = dataclasses.replace(
                t,
                tx_m=t.tx_m + STAGE_JUMP_M * math.cos(_SLIP_DIRECTION_RAD),
                ty_m=t.ty_m + STAGE_JUMP_M * math.sin(_SLIP_DIRECTION_RAD),
            )
            return f"sample slipped {STAGE_JUMP_M * 1e6:.1f} µm relative to the encoders"
        if kind == "bleach":
            xc, yc, dep = w.focus_now()
            fe = w.focus_emitters(xc, yc, dep)
            hit = fe.index[fe.excitation * fe.detection > _BLEACH_FACTOR]
            for i in hit:
                w.emitter_states[int(i)].bleached = True
            return f"{hit.size} emitter(s) in the focus bleached"
        raise ParameterError("fault", kind, f"must be one of {FAULT_KINDS}")
