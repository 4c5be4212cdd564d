"""A real, deterministic in-memory :class:`~qlight.device.service_types.DeviceService`.

Interfaces (REST, WebSocket, metrics, SCPI, dashboard) are tested against this fake so that
their tests do not depend on the twin's boot. It follows the contract of
``qlight.device.service_types`` faithfully: snapshots are immutable and taken under a short
lock, commands validate and answer at once (raising ``CommandRejectedError`` when not
allowed), every change increments ``update_seq`` and wakes :meth:`wait_update`.

Two ways to drive it:

* **synchronous** (``FakeDeviceService(state=DeviceState.EMITTING)``): the fake is born in the
  given state; :meth:`step` advances one tick (one boot state, or one rate/g2 publication
  while EMITTING). Nothing runs in the background — route tests are fully deterministic.
* **background** (:meth:`start`): a thread calls :meth:`step` every ``tick_s`` wall seconds,
  so streams and servers see a live device (boot → EMITTING in five ticks).

Every number comes from ``numpy.random.default_rng(seed)`` and the tick count, so the same
seed and the same sequence of calls give the same snapshots.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import uvicorn

from qlight import __version__
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

__all__ = ["BOOT", "FakeDeviceService", "serve_in_thread"]

#: Boot sequence the fake walks through, one state per tick.
BOOT = (
    DeviceState.POWER_ON,
    DeviceState.SELF_TEST,
    DeviceState.HOMING,
    DeviceState.LOCATING,
    DeviceState.ACQUIRING,
    DeviceState.EMITTING,
)
_SIM_STEP_S = 1.0  # simulated seconds per tick
_RATE_CPS = 150_000.0
_G2_BINS = 41
_G2_BIN_NS = 0.5


class FakeDeviceService:
    """Deterministic fake of the running device (see the module docstring).

    Parameters
    ----------
    seed : int
        Seed of every random number the fake produces.
    state : DeviceState
        State the fake is born in (``POWER_ON`` walks the boot on :meth:`step`).
    n_emitters : int
        Number of registry emitters (``E0001`` … ); the first is served.
    tick_s : float
        Wall seconds between ticks of the background thread (:meth:`start`).
    statuses : sequence of str, optional
        Registry status of each emitter (default: all ``qualified``); like the real service,
        :meth:`select_emitter` rejects an emitter that is not ``qualified``.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        state: DeviceState = DeviceState.POWER_ON,
        n_emitters: int = 4,
        tick_s: float = 0.05,
        statuses: Sequence[str] | None = None,
    ) -> None:
        if statuses is not None and len(statuses) != n_emitters:
            raise ValueError("one status per emitter")
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tick_s = tick_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._seq = 0
        self._sim_s = 0.0
        self._state = state
        self._reason = "power on" if state is DeviceState.POWER_ON else "fake start"
        self._since_s = 0.0
        self._boot_index = BOOT.index(state) if state in BOOT else len(BOOT) - 1
        self._power_on_to_emitting_s: float | None = 0.0 if state is DeviceState.EMITTING else None
        self._events: list[Event] = []
        self._rates: list[RateSample] = []
        self._g2: G2Snapshot | None = None
        xy = self._rng.uniform(5.0, 45.0, size=(n_emitters, 2))
        self._emitters = [
            EmitterInfo(
                id=f"E{i + 1:04d}",
                x_um=float(xy[i, 0]),
                y_um=float(xy[i, 1]),
                sigma_xy_nm=1.3,
                status="qualified" if statuses is None else statuses[i],
                quality=0.9 - 0.1 * i,
                g2_0=0.1 + 0.02 * i,
                brightness_cps=_RATE_CPS * (1.0 - 0.1 * i),
                zpl_nm=600.0 + 3.0 * i,
                polarization_deg=15.0 * i,
                n_observations=1,
                last_seen_utc=None,
                is_current=False,
            )
            for i in range(n_emitters)
        ]
        self._current: str | None = (
            self._emitters[0].id if state is DeviceState.EMITTING and n_emitters else None
        )
        self._log("info", "fake device created")
        if state is DeviceState.EMITTING:
            self._publish_measurements()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the background thread that ticks every ``tick_s`` (returns at once)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="fake-device", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the background thread (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.step()

    # ------------------------------------------------------------------ driving
    def step(self) -> None:
        """Advance one tick: the next boot state, or one measurement publication."""
        with self._cond:
            self._sim_s += _SIM_STEP_S
            if self._state in BOOT and self._state is not DeviceState.EMITTING:
                self._boot_index += 1
                nxt = BOOT[self._boot_index]
                if nxt is DeviceState.ACQUIRING and self._current is None and self._emitters:
                    self._current = self._emitters[0].id
                self._transition(nxt, "boot step")
                if nxt is DeviceState.EMITTING:
                    self._power_on_to_emitting_s = self._sim_s
            elif self._state in (DeviceState.EMITTING, DeviceState.DEGRADED):
                self._publish_measurements()
            elif self._state in (DeviceState.MAPPING, DeviceState.RECOVERING):
                self._transition(DeviceState.ACQUIRING, "done")
                self._boot_index = BOOT.index(DeviceState.ACQUIRING)
            self._seq += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ internals
    def _uptime(self) -> float:
        return time.monotonic() - self._t0

    def _log(
        self,
        kind: str,
        reason: str,
        state_from: DeviceState | None = None,
        state_to: DeviceState | None = None,
    ) -> None:
        self._events.append(
            Event(
                id=len(self._events) + 1,
                time_utc=datetime.now(UTC).isoformat(),
                sim_time_s=self._sim_s,
                kind=kind,  # type: ignore[arg-type]
                state_from=state_from,
                state_to=state_to,
                reason=reason,
            )
        )

    def _transition(self, to: DeviceState, reason: str) -> None:
        self._log("transition", reason, self._state, to)
        self._state, self._reason, self._since_s = to, reason, self._uptime()

    def _publish_measurements(self) -> None:
        rate = float(self._rng.poisson(_RATE_CPS))
        self._rates.append(
            RateSample(sim_time_s=self._sim_s, uptime_s=self._uptime(), rate_cps=rate)
        )
        del self._rates[:-600]
        tau = (np.arange(_G2_BINS) - _G2_BINS // 2) * _G2_BIN_NS
        g2_true = 1.0 - 0.85 * np.exp(-np.abs(tau) / 2.0)
        counts = self._rng.poisson(400.0 * g2_true).astype(np.int64)
        g2 = counts / 400.0
        g2_0 = float(g2[_G2_BINS // 2])
        half = 1.96 * max(np.sqrt(counts[_G2_BINS // 2]), 1.0) / 400.0
        self._g2 = G2Snapshot(
            emitter_id=self._current,
            tau_ns=[float(t) for t in tau],
            g2=[float(v) for v in g2],
            counts=[int(c) for c in counts],
            g2_0=g2_0,
            g2_0_ci95=(max(g2_0 - half, 0.0), g2_0 + half),
            integration_s=_SIM_STEP_S,
            sim_time_s=self._sim_s,
        )

    def _command(self, name: str, allowed: tuple[DeviceState, ...], reason: str) -> None:
        if self._state not in allowed:
            raise CommandRejectedError(name, f"{reason} (state is {self._state.value})")

    def _result(self, name: str, message: str) -> CommandResult:
        self._log("command", name)
        self._seq += 1
        self._cond.notify_all()
        return CommandResult(accepted=True, command=name, state=self._state, message=message)

    # ------------------------------------------------------------------ reads
    def status(self) -> DeviceStatus:
        with self._lock:
            emitting = self._state in (DeviceState.EMITTING, DeviceState.DEGRADED)
            rate = self._rates[-1].rate_cps if emitting and self._rates else None
            g2 = self._g2 if emitting else None
            return DeviceStatus(
                state=self._state,
                state_reason=self._reason,
                state_since_s=self._since_s,
                emitter_id=self._current,
                count_rate_cps=rate,
                count_rate_unc_cps=None if rate is None else float(np.sqrt(rate)),
                g2_0=None if g2 is None else g2.g2_0,
                g2_0_ci95=None if g2 is None else g2.g2_0_ci95,
                uptime_s=self._uptime(),
                sim_time_s=self._sim_s,
                power_on_to_emitting_s=self._power_on_to_emitting_s,
                laser_power_w=1e-3 if emitting else None,
                temperature_k=295.0,
                pace="fast",
                version=__version__,
                serial="FAKE-0001",
                update_seq=self._seq,
            )

    def emitters(self) -> list[EmitterInfo]:
        with self._lock:
            return [
                e.model_copy(update={"is_current": e.id == self._current}) for e in self._emitters
            ]

    def emitter(self, emitter_id: str) -> EmitterInfo:
        for e in self.emitters():
            if e.id == emitter_id:
                return e
        raise EmitterNotFoundError(emitter_id)

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        with self._lock:
            return [e for e in self._events if e.id > after_id][:limit]

    def latest_g2(self) -> G2Snapshot | None:
        with self._lock:
            return self._g2

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        with self._lock:
            return list(self._rates[-limit:]) if limit > 0 else []

    def chip_map(self) -> ChipMap:
        with self._lock:
            marks = [
                MapMark(id=f"M{i}", x_um=x, y_um=y, kind="mark")
                for i, (x, y) in enumerate(((0.0, 0.0), (50.0, 0.0), (0.0, 50.0), (50.0, 50.0)))
            ]
            ems = [
                MapMark(id=e.id, x_um=e.x_um, y_um=e.y_um, kind="emitter", status=e.status)
                for e in self._emitters
            ]
            cur = next((e for e in self._emitters if e.id == self._current), None)
            return ChipMap(
                chip_size_um=50.0,
                marks=marks,
                emitters=ems,
                target_id=self._current,
                position_um=None if cur is None else (cur.x_um, cur.y_um),
            )

    # ------------------------------------------------------------------ commands
    def standby(self, reason: str = "operator request") -> CommandResult:
        with self._cond:
            if self._state is DeviceState.STANDBY:
                raise CommandRejectedError("standby", "already in STANDBY")
            self._transition(DeviceState.STANDBY, reason)
            return self._result("standby", "laser off, position kept")

    def resume(self) -> CommandResult:
        with self._cond:
            self._command("resume", (DeviceState.STANDBY, DeviceState.FAULT), "nothing to resume")
            self._transition(DeviceState.LOCATING, "resume")
            self._boot_index = BOOT.index(DeviceState.LOCATING)
            return self._result("resume", "returning to EMITTING")

    def remap(self) -> CommandResult:
        with self._cond:
            self._command(
                "remap",
                (DeviceState.EMITTING, DeviceState.STANDBY, DeviceState.DEGRADED),
                "cannot remap now",
            )
            self._transition(DeviceState.MAPPING, "remap requested")
            return self._result("remap", "mapping started")

    def select_emitter(self, emitter_id: str) -> CommandResult:
        with self._cond:
            status = {e.id: e.status for e in self._emitters}.get(emitter_id)
            if status is None:
                raise CommandRejectedError("select_emitter", f"no emitter {emitter_id!r}")
            if status != "qualified":
                raise CommandRejectedError("select_emitter", f"{emitter_id} is {status}")
            self._command(
                "select_emitter",
                (DeviceState.EMITTING, DeviceState.STANDBY, DeviceState.DEGRADED),
                "cannot select an emitter now",
            )
            self._current = emitter_id
            self._transition(DeviceState.ACQUIRING, f"select {emitter_id}")
            self._boot_index = BOOT.index(DeviceState.ACQUIRING)
            return self._result("select_emitter", f"acquiring {emitter_id}")

    def power_cycle(self) -> CommandResult:
        with self._cond:
            self._transition(DeviceState.POWER_ON, "power cycle")
            self._boot_index = 0
            return self._result("power_cycle", "instruments restarted")

    def inject_fault(self, fault: FaultKind) -> CommandResult:
        with self._cond:
            self._command("inject_fault", (DeviceState.EMITTING,), "faults inject while EMITTING")
            self._log("fault", fault.value)
            self._transition(DeviceState.RECOVERING, f"fault {fault.value}")
            return self._result("inject_fault", f"injected {fault.value}")

    def wait_update(self, after_seq: int, timeout_s: float) -> int:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._cond:
            while self._seq <= after_seq and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._seq


@contextmanager
def serve_in_thread(app: Any, *, timeout_s: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL.

    The server is always shut down on exit (``should_exit``, then a bounded join).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()
