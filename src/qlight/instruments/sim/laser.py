"""Twin backend of the excitation laser (:class:`~qlight.instruments.protocols.Laser`).

The laser state (power at the sample, on/off, CW/pulsed) lives in the shared
:class:`~qlight.instruments.sim.world.TwinWorld`; the scanner, the tagger and the
spectrometer read it from there. Changing a setting costs a settle time on the clock
(a motorised attenuator or AOM settles in tens of ms: *estimate*, no source).
"""

from __future__ import annotations

from qlight._validation import check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import LaserMode
from qlight.instruments.sim.world import TwinWorld

__all__ = ["POWER_SETTLE_S", "SWITCH_S", "SimLaser"]

#: Clock cost of a power change (attenuator settle), s. *Estimate*.
POWER_SETTLE_S = 0.02
#: Clock cost of switching the output or the mode (shutter / AOM), s. *Estimate*.
SWITCH_S = 0.005


class SimLaser:
    """The twin's laser; see :class:`qlight.instruments.protocols.Laser`."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    @property
    def wavelength_nm(self) -> float:
        """Emission wavelength of the preset's pump laser."""
        return self._world.laser.wavelength_nm

    @property
    def power_w(self) -> float:
        """Set power at the sample."""
        return self._world.laser.power_w

    @property
    def max_power_w(self) -> float:
        """Largest settable power."""
        return self._world.laser.max_power_w

    @property
    def is_on(self) -> bool:
        """Whether the output is enabled."""
        return self._world.laser.on

    @property
    def mode(self) -> LaserMode:
        """``"cw"`` or ``"pulsed"``."""
        return "cw" if self._world.laser.rep_rate_hz is None else "pulsed"

    @property
    def rep_rate_hz(self) -> float | None:
        """Repetition rate in pulsed mode, ``None`` in CW."""
        return self._world.laser.rep_rate_hz

    def set_power(self, power_w: float) -> None:
        """Set the power at the sample; ParameterError outside ``[0, max_power_w]``."""
        p = check_nonnegative("power_w", power_w)
        if p > self._world.laser.max_power_w:
            raise ParameterError("power_w", power_w, f"must be <= {self._world.laser.max_power_w}")
        self._world.laser.power_w = p
        self._world.clock.advance(POWER_SETTLE_S)

    def on(self) -> None:
        """Enable the output."""
        self._world.laser.on = True
        self._world.clock.advance(SWITCH_S)

    def off(self) -> None:
        """Disable the output."""
        self._world.laser.on = False
        self._world.clock.advance(SWITCH_S)

    def set_cw(self) -> None:
        """Switch to continuous-wave operation."""
        self._world.laser.rep_rate_hz = None
        self._world.clock.advance(SWITCH_S)

    def set_pulsed(self, rep_rate_hz: float, pulse_width_ps: float = 50.0) -> None:
        """Switch to pulsed operation at ``rep_rate_hz`` with rectangular pulses."""
        r = check_positive("rep_rate_hz", rep_rate_hz)
        w = check_positive("pulse_width_ps", pulse_width_ps)
        if w * 1e-12 * r >= 1.0:
            raise ParameterError(
                "pulse_width_ps", pulse_width_ps, "must be shorter than 1/rep_rate"
            )
        self._world.laser.rep_rate_hz = r
        self._world.laser.pulse_width_ps = w
        self._world.clock.advance(SWITCH_S)
