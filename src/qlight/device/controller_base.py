"""Plumbing of the device's state-machine thread: commands, events, publishing.

:class:`ControllerBase` holds what every state handler of
:class:`~qlight.device.controller.Controller` shares: the instruments (built at the first
power-on), the command queue and its application between instrument steps, the transition
listener that writes the event log and persists the state, and the publication of samples,
g2 histograms and the spot position to :class:`~qlight.device.live.LiveState`.
"""

from __future__ import annotations

import math
import queue
import threading

from qlight.device.events import EventLog
from qlight.device.factory import FaultInjector, Instruments
from qlight.device.live import LiveState
from qlight.device.procedures import G2Result
from qlight.device.registry_view import RegistryView
from qlight.device.service_types import DeviceState as S
from qlight.device.service_types import G2Snapshot
from qlight.device.settings import DeviceSettings
from qlight.device.statemachine import StateMachine
from qlight.device.supervisor import Finding, HealthSample, RecoveryBudget, Supervisor
from qlight.mapping.drift import DriftTracker
from qlight.mapping.registration import Registration

__all__ = ["ControllerBase", "Preempted", "Stopped"]


class Preempted(Exception):  # noqa: N818 (control flow, not an error)
    """A command changed the state; restart the loop in the new state."""


class Stopped(Exception):  # noqa: N818
    """The service is stopping."""


class _Cancel:
    """Cancel token for long procedures (discovery)."""

    def __init__(self) -> None:
        self.flag = threading.Event()

    def is_set(self) -> bool:
        return self.flag.is_set()


class ControllerBase:
    """Plumbing of the state-machine thread: instruments, events, commands, publishing."""

    def __init__(
        self, settings: DeviceSettings, store: EventLog, view: RegistryView, live: LiveState
    ) -> None:
        self.s = settings
        self.store = store
        self.view = view
        self.live = live
        self.commands: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        self.cancel = _Cancel()
        self.stopping = threading.Event()
        self.sm = StateMachine(self._on_transition)
        self.boot = int(store.get("boot_count", -1)) + 1
        store.put(boot_count=self.boot)
        self._ins: Instruments | None = None
        self._faults: FaultInjector | None = None
        self.reg: Registration | None = None
        self.z_surface: float | None = store.get("z_surface_m")
        self.current: str | None = store.get("current_emitter")
        self.requested: str | None = None
        self.remap_requested = False
        self.finding: Finding | None = None
        self.tracker: DriftTracker | None = None
        self.supervisor: Supervisor | None = None
        self.power_on_s = 0.0
        self.budget = RecoveryBudget(
            settings.supervisor.max_recoveries, settings.supervisor.recovery_window_s
        )
        self.bugs: list[str] = []

    # ------------------------------------------------------------------ plumbing
    @property
    def ins(self) -> Instruments:
        """The instruments (built at the first power-on, in this thread)."""
        if self._ins is None:
            raise RuntimeError("instruments not built yet")
        return self._ins

    def now_s(self) -> float:
        """Instrument clock (0 before the instruments exist)."""
        return 0.0 if self._ins is None else self._ins.clock.now_s()

    def _go(self, state: S, reason: str) -> None:
        self.sm.go(state, reason)

    def _on_transition(self, old: S, new: S, reason: str) -> None:
        now = self.now_s()
        self.store.append(
            "transition", reason, sim_time_s=now, state_from=old, state_to=new,
            data={"emitter_id": self.current},
        )  # fmt: skip
        self.store.put(state=new.value)
        extra: dict[str, object] = {}
        if new is S.EMITTING:
            extra = {"power_on_to_emitting_s": now - self.power_on_s, "emitter_id": self.current}
        self.live.set_state(new, reason, **extra)

    def _log(self, kind: str, reason: str, **data: object) -> None:
        self.store.append(kind, reason, sim_time_s=self.now_s(), data=dict(data))

    def _poll(self) -> None:
        if self.stopping.is_set():
            raise Stopped
        while True:
            try:
                name, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            self._apply(name, arg)

    def _idle(self) -> None:
        """Wait for a command (STANDBY, FAULT)."""
        if self.stopping.is_set():
            raise Stopped
        try:
            name, arg = self.commands.get(timeout=0.1)
        except queue.Empty:
            return
        self._apply(name, arg)

    def _laser_on(self) -> None:
        self.ins.laser.set_power(self.s.supervisor.laser_power_w)
        self.ins.laser.on()
        self.live.publish(laser_power_w=self.ins.laser.power_w)

    def _laser_off(self) -> None:
        if self._ins is not None:
            self._ins.laser.off()
        self.live.publish(laser_power_w=0.0, count_rate_cps=None, count_rate_unc_cps=None)

    # ------------------------------------------------------------------ commands
    def _apply(self, name: str, arg: str | None) -> None:
        st = self.sm.state
        self.cancel.flag.clear()
        if name == "fault":
            desc = self._faults.inject(str(arg)) if self._faults is not None else "no backend"
            self._log("fault", f"injected {arg}: {desc}", fault=arg)
            return
        self._log("command", name if arg is None else f"{name} {arg}", command=name)
        if name == "standby":
            if self.sm.allowed(st, S.STANDBY):
                self._laser_off()
                self._go(S.STANDBY, f"standby: {arg or 'operator request'}")
                raise Preempted
        elif name == "resume":
            if st in (S.STANDBY, S.FAULT):
                self._go(S.LOCATING, "resume: operator request")
                raise Preempted
        elif name == "remap":
            self.remap_requested = True
            if self.reg is not None and self.sm.allowed(st, S.MAPPING):
                self._go(S.MAPPING, "remap: operator request")
                raise Preempted
            if st is S.STANDBY:  # not registered yet: LOCATING goes on to MAPPING
                self._go(S.LOCATING, "remap: operator request")
                raise Preempted
        elif name == "select":
            self.requested = arg
            if self.sm.allowed(st, S.ACQUIRING):
                self._go(S.ACQUIRING, f"select {arg}: operator request")
                raise Preempted
        elif name == "power_cycle":
            self._laser_off()
            if self._ins is not None:
                self._ins.power.power_cycle()
            self.boot += 1
            self.store.put(boot_count=self.boot)
            self.reg, self.tracker, self.supervisor = None, None, None
            self._go(S.POWER_ON, "power cycle: operator request")
            raise Preempted

    # ------------------------------------------------------------------ publishing
    def _publish_position(self) -> None:
        if self.reg is None:
            self.live.set_position(None)
            return
        p = self.ins.stage.position()
        xc, yc = self.reg.transform.apply_inverse(p.x_m, p.y_m)
        self.live.set_position((float(xc) * 1e6, float(yc) * 1e6))

    def _publish_g2(self, g: G2Result) -> None:
        half = 1.96 * g.g2_0_err
        ci = (g.g2_0 - half, g.g2_0 + half) if math.isfinite(half) else (g.g2_0, g.g2_0)
        self.live.set_g2(
            G2Snapshot(
                emitter_id=self.current,
                tau_ns=[float(v) for v in g.tau_ns],
                g2=[float(v) for v in g.g2],
                counts=[int(v) for v in g.counts],
                g2_0=g.g2_0 if math.isfinite(g.g2_0) else 0.0,
                g2_0_ci95=ci if all(math.isfinite(v) for v in ci) else (0.0, 0.0),
                integration_s=g.duration_s,
                sim_time_s=self.now_s(),
            )
        )

    def _sample(self) -> HealthSample:
        cfg = self.s.supervisor
        cr = self.ins.tagger.count_rates(cfg.sample_period_s)
        n = sum(cr.counts)
        rate = cr.total_rate_per_s
        temp = self.ins.thermometer.temperature_k()
        now = self.now_s()
        self.live.add_rate(rate, math.sqrt(n) / cfg.sample_period_s, now)
        self.live.publish(laser_power_w=self.ins.laser.power_w, temperature_k=temp)
        return HealthSample(now, rate, self.ins.laser.power_w, self.ins.laser.is_on, temp)
