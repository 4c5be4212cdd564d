"""Twin backend of the positioner (:class:`~qlight.instruments.protocols.Stage`).

Moves go through :meth:`qlight.physics.stage.StageModel.move` (closed-loop noise, move and
settle time, which the clock is advanced by). The encoder reports the commanded target: the
closed-loop sensor holds it, while the physical position carries the repeatability noise
and the sample drifts relative to the stage frame (neither is visible to the encoder).
"""

from __future__ import annotations

from qlight.instruments.protocols import StagePosition
from qlight.instruments.sim.world import TwinWorld

__all__ = ["SimStage"]


class SimStage:
    """The twin's stage; see :class:`qlight.instruments.protocols.Stage`."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    @property
    def travel_range_m(
        self,
    ) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """Travel ranges of the three axes (stage frame)."""
        c = self._world.stage.config
        return (c.travel_x_m, c.travel_y_m, c.travel_z_m)

    def move_to(self, x_m: float, y_m: float, z_m: float | None = None) -> StagePosition:
        """Move and settle; return the encoder reading (ParameterError outside the range)."""
        return self._world.move_stage(x_m, y_m, z_m)

    def position(self) -> StagePosition:
        """Current encoder reading (free: the controller streams it)."""
        return self._world.encoder()
