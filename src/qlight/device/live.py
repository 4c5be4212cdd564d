"""The published, thread-safe view of the running device (what reads return).

The state-machine thread publishes changes here; the interfaces' threads read snapshots
under one short lock and never wait for instrument work. Every publish increments
``update_seq`` and wakes :meth:`LiveState.wait` (a :class:`threading.Condition`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from qlight.device.service_types import (
    ChipMap,
    DeviceState,
    DeviceStatus,
    EmitterInfo,
    G2Snapshot,
    MapMark,
    RateSample,
)

__all__ = ["LiveState"]


class LiveState:
    """Latest status, rate trend, g2 histogram, emitters and chip map of the device."""

    def __init__(
        self,
        *,
        pace: str,
        version: str,
        serial: str,
        clock: Callable[[], float],
        marks: list[MapMark],
        chip_size_um: float,
        history: int = 3600,
    ) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._clock = clock
        self._t0 = time.monotonic()
        self._seq = 0
        self._f: dict[str, Any] = {
            "state": DeviceState.POWER_ON,
            "state_reason": "power on",
            "state_since_s": 0.0,
            "emitter_id": None,
            "count_rate_cps": None,
            "count_rate_unc_cps": None,
            "g2_0": None,
            "g2_0_ci95": None,
            "power_on_to_emitting_s": None,
            "laser_power_w": None,
            "temperature_k": None,
            "pace": pace,
            "version": version,
            "serial": serial,
        }
        self._rates: deque[RateSample] = deque(maxlen=history)
        self._g2: G2Snapshot | None = None
        self._emitters: list[EmitterInfo] = []
        self._marks = marks
        self._chip_size_um = chip_size_um
        self._position_um: tuple[float, float] | None = None

    def uptime_s(self) -> float:
        """Wall seconds since the service started."""
        return time.monotonic() - self._t0

    # ------------------------------------------------------------------ writers
    def publish(self, **fields: Any) -> None:
        """Change status fields (names of :class:`DeviceStatus`) and notify waiters."""
        with self._cond:
            self._f.update(fields)
            self._seq += 1
            self._cond.notify_all()

    def set_state(self, state: DeviceState, reason: str, **fields: Any) -> None:
        """Publish a new state with its reason and entry time."""
        self.publish(state=state, state_reason=reason, state_since_s=self.uptime_s(), **fields)

    def add_rate(self, rate_cps: float, unc_cps: float, sim_time_s: float) -> None:
        """Append a count-rate sample and publish it as the current rate."""
        sample = RateSample(sim_time_s=sim_time_s, uptime_s=self.uptime_s(), rate_cps=rate_cps)
        with self._cond:
            self._rates.append(sample)
            self._f["count_rate_cps"] = rate_cps
            self._f["count_rate_unc_cps"] = unc_cps
            self._seq += 1
            self._cond.notify_all()

    def set_g2(self, snap: G2Snapshot) -> None:
        """Publish a new g2 histogram and its g2(0)."""
        with self._cond:
            self._g2 = snap
            self._f["g2_0"] = snap.g2_0
            self._f["g2_0_ci95"] = snap.g2_0_ci95
            self._seq += 1
            self._cond.notify_all()

    def set_emitters(self, emitters: list[EmitterInfo]) -> None:
        """Replace the emitter list (after every registry write)."""
        with self._cond:
            self._emitters = list(emitters)
            self._seq += 1
            self._cond.notify_all()

    def set_position(self, position_um: tuple[float, float] | None) -> None:
        """Current excitation spot in the chip frame (µm), None when unregistered."""
        with self._cond:
            self._position_um = position_um

    # ------------------------------------------------------------------ readers
    @property
    def state(self) -> DeviceState:
        """Current state."""
        with self._cond:
            st: DeviceState = self._f["state"]
            return st

    def status(self) -> DeviceStatus:
        """One consistent snapshot."""
        with self._cond:
            f = dict(self._f)
            seq = self._seq
        return DeviceStatus(**f, uptime_s=self.uptime_s(), sim_time_s=self._clock(), update_seq=seq)

    def rate_history(self, limit: int) -> list[RateSample]:
        """The last ``limit`` rate samples, oldest first."""
        if limit <= 0:
            return []
        with self._cond:  # copy only the tail: the stream asks for a few new samples
            items = list(itertools.islice(reversed(self._rates), limit))
        items.reverse()
        return items

    def latest_g2(self) -> G2Snapshot | None:
        """The latest g2 histogram."""
        with self._cond:
            return self._g2

    def emitters(self) -> list[EmitterInfo]:
        """All registry emitters (cached)."""
        with self._cond:
            return list(self._emitters)

    def chip_map(self) -> ChipMap:
        """Marks, emitters, target and position in the chip frame."""
        with self._cond:
            em = [
                MapMark(id=e.id, x_um=e.x_um, y_um=e.y_um, kind="emitter", status=e.status)
                for e in self._emitters
            ]
            target = self._f["emitter_id"]
            pos = self._position_um
        return ChipMap(
            chip_size_um=self._chip_size_um,
            marks=self._marks,
            emitters=em,
            target_id=target,
            position_um=pos,
        )

    def wait(self, after_seq: int, timeout_s: float) -> int:
        """Block until ``update_seq > after_seq`` or the timeout; return the seq."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after_seq, timeout=max(0.0, timeout_s))
            return self._seq
