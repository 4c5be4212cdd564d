"""The twin's simulated clock: every instrument operation advances it.

Two pacings:

* ``"fast"`` (default): time jumps forward as fast as the simulation computes;
* ``"realtime"``: after each advance, the clock sleeps until the wall time elapsed since the
  clock was created is at least the simulated time elapsed, so simulated time never runs
  ahead of wall time (a device service shown to people uses this). Sleep and monotonic time
  are injected, so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from qlight._validation import check_nonnegative
from qlight.errors import ParameterError

__all__ = ["Pace", "SimClock"]

Pace = Literal["fast", "realtime"]


class SimClock:
    """Simulated time in seconds; implements the :class:`~qlight.instruments.protocols.Clock`.

    Parameters
    ----------
    pace : {"fast", "realtime"}
        Pacing (see module docstring).
    start_s : float
        Simulated time at creation.
    sleep, monotonic : callable
        Wall-clock functions used by ``"realtime"`` pacing (injected in tests).
    """

    def __init__(
        self,
        pace: Pace = "fast",
        *,
        start_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if pace not in ("fast", "realtime"):
            raise ParameterError("pace", pace, "must be 'fast' or 'realtime'")
        self._pace: Pace = pace
        self._t0_s = check_nonnegative("start_s", start_s)
        self._t_s = self._t0_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall0_s = monotonic()

    @property
    def pace(self) -> Pace:
        """The pacing mode."""
        return self._pace

    def now_s(self) -> float:
        """Current simulated time."""
        return self._t_s

    def advance(self, duration_s: float) -> float:
        """Advance simulated time by ``duration_s`` (≥ 0) and return the new time.

        In ``"realtime"`` pacing, sleep until wall time has caught up with simulated time.
        """
        d = check_nonnegative("duration_s", duration_s)
        self._t_s += d
        if self._pace == "realtime":
            ahead_s = (self._t_s - self._t0_s) - (self._monotonic() - self._wall0_s)
            if ahead_s > 0.0:
                self._sleep(ahead_s)
        return self._t_s

    def wait(self, duration_s: float) -> None:
        """Let ``duration_s`` of (simulated) time pass; the world evolves meanwhile."""
        self.advance(duration_s)
