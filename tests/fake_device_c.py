"""An in-memory :class:`~qlight.device.service_types.DeviceService` for the SCPI, dashboard
and browser tests (engineer C): deterministic (seeded), thread-safe, with a ticker thread that
publishes a new count rate and g2 histogram every ``period_s`` while EMITTING.

Commands are recorded in ``.commands`` and act on the state at once (``standby`` → STANDBY,
``resume`` → EMITTING, ``select_emitter`` → EMITTING on that emitter), so tests can watch the
interfaces follow a state change.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np

from qlight.device.service_types import (
    ChipMap,
    CommandRejectedError,
    CommandResult,
    DeviceState,
    DeviceStatus,
    EmitterInfo,
    EmitterNotFoundError,
    Event,
    FaultKind,
    G2Snapshot,
    MapMark,
    RateSample,
)

_EMITTERS = [
    ("E001", 12.0, 18.5),
    ("E002", 41.3, 22.0),
    ("E003", 25.7, 60.2),
    ("E004", 70.1, 75.4),
    ("E005", 82.0, 30.3),
]
_STATUS = {
    "E001": "qualified",
    "E002": "qualified",
    "E003": "bleached",
    "E004": "qualified",
    "E005": "rejected",
}


class FakeDevice:
    """Fake device: EMITTING on E001 at about 1.2e5 counts/s, g2(0) about 0.2."""

    def __init__(self, *, seed: int = 1, period_s: float = 0.1) -> None:
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Condition()
        self._period_s = period_s
        self._t0 = time.monotonic()
        self._state = DeviceState.EMITTING
        self._reason = "emitter E001 verified"
        self._since = 0.0
        self._emitter: str | None = "E001"
        self._seq = 1
        self._sim_s = 30.0
        self._rate: float | None = 1.2e5
        self._rates: list[RateSample] = []
        self._g2: G2Snapshot | None = None
        self._events: list[Event] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.commands: list[str] = []
        self._log("transition", "boot complete", DeviceState.ACQUIRING, DeviceState.EMITTING)
        for _ in range(20):
            self.tick()

    # ------------------------------------------------------------------ test controls
    def set_state(self, state: DeviceState, reason: str = "test") -> None:
        """Force a state (as the state machine would) and publish it."""
        with self._lock:
            self._transition(state, reason)

    def tick(self) -> None:
        """Publish one new rate sample and g2 histogram (what the ticker thread does)."""
        with self._lock:
            self._tick_locked()

    def _transition(self, state: DeviceState, reason: str) -> None:
        old = self._state
        self._state, self._reason, self._since = state, reason, self._uptime()
        self._log("transition", reason, old, state)
        self._seq += 1
        self._lock.notify_all()

    def _uptime(self) -> float:
        return time.monotonic() - self._t0

    def _log(
        self, kind: str, reason: str, a: DeviceState | None = None, b: DeviceState | None = None
    ) -> None:
        self._events.append(
            Event(
                id=len(self._events) + 1,
                time_utc=datetime.now(UTC).isoformat(),
                sim_time_s=self._sim_s,
                kind=kind,
                state_from=a,
                state_to=b,
                reason=reason,  # type: ignore[arg-type]
            )
        )

    def _tick_locked(self) -> None:
        self._sim_s += 0.5
        if self._state is DeviceState.EMITTING:
            self._rate = float(self._rng.normal(1.2e5, 4e3))
            tau = np.arange(-50.0, 50.5, 1.0)
            mean = 400.0 * (1.0 - 0.8 * np.exp(-np.abs(tau) / 3.0))
            counts = self._rng.poisson(mean)
            g2 = counts / 400.0
            g0 = float(g2[50])
            self._g2 = G2Snapshot(
                emitter_id=self._emitter,
                tau_ns=tau.tolist(),
                g2=g2.tolist(),
                counts=[int(c) for c in counts],
                g2_0=g0,
                g2_0_ci95=(max(0.0, g0 - 0.1), g0 + 0.1),
                integration_s=10.0,
                sim_time_s=self._sim_s,
            )
        else:
            self._rate = None
        if self._rate is not None:
            self._rates.append(
                RateSample(sim_time_s=self._sim_s, uptime_s=self._uptime(), rate_cps=self._rate)
            )
            self._rates = self._rates[-600:]
        self._seq += 1
        self._lock.notify_all()

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            self.tick()

    # ------------------------------------------------------------------ DeviceService
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="fake-device")
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def status(self) -> DeviceStatus:
        with self._lock:
            g = self._g2 if self._state is DeviceState.EMITTING else None
            return DeviceStatus(
                state=self._state,
                state_reason=self._reason,
                state_since_s=self._since,
                emitter_id=self._emitter,
                count_rate_cps=self._rate,
                count_rate_unc_cps=None if self._rate is None else self._rate**0.5,
                g2_0=g.g2_0 if g else None,
                g2_0_ci95=g.g2_0_ci95 if g else None,
                uptime_s=self._uptime(),
                sim_time_s=self._sim_s,
                power_on_to_emitting_s=21.5,
                laser_power_w=1e-3,
                temperature_k=296.0,
                pace="fast",
                version="0.1.0",
                serial="TWIN-0001",
                update_seq=self._seq,
            )

    def emitters(self) -> list[EmitterInfo]:
        with self._lock:
            return [self._info(i) for i, _, _ in _EMITTERS]

    def _info(self, emitter_id: str) -> EmitterInfo:
        for i, x, y in _EMITTERS:
            if i == emitter_id:
                return EmitterInfo(
                    id=i,
                    x_um=x,
                    y_um=y,
                    sigma_xy_nm=12.0,
                    status=_STATUS[i],
                    quality=0.9,
                    g2_0=0.2,
                    brightness_cps=1.2e5,
                    zpl_nm=620.0,
                    polarization_deg=30.0,
                    n_observations=3,
                    last_seen_utc=None,
                    is_current=i == self._emitter,
                )
        raise EmitterNotFoundError(emitter_id)

    def emitter(self, emitter_id: str) -> EmitterInfo:
        with self._lock:
            return self._info(emitter_id)

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        with self._lock:
            return [e for e in self._events if e.id > after_id][:limit]

    def latest_g2(self) -> G2Snapshot | None:
        with self._lock:
            return self._g2

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        with self._lock:
            return self._rates[-limit:]

    def chip_map(self) -> ChipMap:
        with self._lock:
            marks = [
                MapMark(id=f"M{i}", x_um=x, y_um=y, kind="mark")
                for i, (x, y) in enumerate(((5.0, 5.0), (95.0, 5.0), (5.0, 95.0)))
            ]
            ems = [
                MapMark(id=i, x_um=x, y_um=y, kind="emitter", status=_STATUS[i])
                for i, x, y in _EMITTERS
            ]
            pos = next(((x, y) for i, x, y in _EMITTERS if i == self._emitter), None)
            return ChipMap(
                chip_size_um=100.0,
                marks=marks,
                emitters=ems,
                target_id=self._emitter,
                position_um=pos,
            )

    def _cmd(self, name: str, state: DeviceState, reason: str) -> CommandResult:
        with self._lock:
            self.commands.append(name)
            self._log("command", name)
            self._transition(state, reason)
            return CommandResult(accepted=True, command=name, state=state, message="queued")

    def standby(self, reason: str = "operator request") -> CommandResult:
        return self._cmd("standby", DeviceState.STANDBY, reason)

    def resume(self) -> CommandResult:
        return self._cmd("resume", DeviceState.EMITTING, "resumed")

    def remap(self) -> CommandResult:
        return self._cmd("remap", DeviceState.MAPPING, "remap requested")

    def select_emitter(self, emitter_id: str) -> CommandResult:
        with self._lock:
            if _STATUS.get(emitter_id) != "qualified":
                if emitter_id not in _STATUS:
                    raise EmitterNotFoundError(emitter_id)
                raise CommandRejectedError("select_emitter", f"{emitter_id} is not qualified")
            self._emitter = emitter_id
        return self._cmd(
            f"select_emitter:{emitter_id}", DeviceState.EMITTING, f"serving {emitter_id}"
        )

    def power_cycle(self) -> CommandResult:
        return self._cmd("power_cycle", DeviceState.POWER_ON, "power cycle")

    def inject_fault(self, fault: FaultKind) -> CommandResult:
        return self._cmd(f"inject_fault:{fault.value}", DeviceState.DEGRADED, fault.value)

    def wait_update(self, after_seq: int, timeout_s: float) -> int:
        with self._lock:
            self._lock.wait_for(lambda: self._seq > after_seq, timeout=timeout_s)
            return self._seq
