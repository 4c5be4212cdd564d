"""Twin backend of the rack's mains control (:class:`~qlight.instruments.protocols.Power`).

:meth:`SimPower.power_cycle` applies the power-cycle model of
:meth:`qlight.physics.stage.StageModel.power_cycle` to the shared world: the stage re-homes
with a homing error (a new, unknown chip→stage transform and focus offset), the thermal
drift restarts cold, a few new background spots may appear, the laser comes up off and
bleached emitters stay dark. It costs the boot time on the clock (controllers boot, stage
homes: 30 s by default, an *estimate*).
"""

from __future__ import annotations

from qlight._validation import check_nonnegative
from qlight.instruments.sim.world import TwinWorld

__all__ = ["DEFAULT_BOOT_TIME_S", "SimPower"]

#: Clock cost of a power cycle (switch-off, controller boot, homing), s. *Estimate*.
DEFAULT_BOOT_TIME_S = 30.0


class SimPower:
    """The twin's power control; see :class:`qlight.instruments.protocols.Power`.

    Parameters
    ----------
    world : TwinWorld
        The shared world.
    boot_time_s : float
        Clock cost of one power cycle.
    reseat_sample : bool
        Model every power cycle as also re-seating the sample (larger rotation and shift).
    """

    def __init__(
        self,
        world: TwinWorld,
        *,
        boot_time_s: float = DEFAULT_BOOT_TIME_S,
        reseat_sample: bool = False,
    ) -> None:
        self._world = world
        self._boot_time_s = check_nonnegative("boot_time_s", boot_time_s)
        self._reseat = bool(reseat_sample)

    def power_cycle(self) -> None:
        """Switch everything off and on again (see module docstring)."""
        self._world.power_cycle(self._boot_time_s, reseated=self._reseat)

    def uptime_s(self) -> float:
        """Seconds since the last power-on."""
        return self._world.time_since_power_on_s()
