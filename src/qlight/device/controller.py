"""The state-machine thread: runs each state's procedure and applies queued commands.

One :class:`Controller` owns the instruments; nothing else touches them. Commands from the
interfaces arrive on a queue and are applied between instrument steps (each step is short:
a count-rate sample of ``sample_period_s``, one discovery tile, one navigation), so a
standby or power cycle takes effect within one step. Every transition goes through the
:class:`~qlight.device.statemachine.StateMachine` table and lands in the event log with its
reason; the emitter being served, the mapping progress and the surface focus are persisted
at once, so a restart after ``kill -9`` continues where the device was. The plumbing
(commands, events, publishing) is :class:`~qlight.device.controller_base.ControllerBase`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

from qlight.device.controller_base import ControllerBase, Preempted, Stopped
from qlight.device.factory import build_device_backend
from qlight.device.procedures import (
    RETURN_CONFIG,
    discover_tile,
    home,
    locate_frame,
    make_locator,
    mapping_tiles,
    measure_g2,
    self_test,
    surface_focus,
    to_candidate,
)
from qlight.device.service_types import DeviceState as S
from qlight.device.statemachine import IllegalTransitionError
from qlight.device.supervisor import Action, Finding, Supervisor
from qlight.instruments.protocols import OperationCancelled
from qlight.mapping.autoreturn import acquire
from qlight.mapping.drift import DriftTracker
from qlight.mapping.registration import RegistrationFailed
from qlight.mapping.similarity import Similarity2D

__all__ = ["Controller"]

#: A local refocus counts as the same emitter within this lateral shift.
_SAME_EMITTER_M = 0.3e-6
#: Targets tried per acquisition (the served/requested one first, then best score).
_MAX_TARGETS = 6


class Controller(ControllerBase):
    """The device's state-machine thread (see the module docstring)."""

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        """Run the state machine until :attr:`stopping` is set."""
        handlers: dict[S, Callable[[], None]] = {
            S.POWER_ON: self._power_on,
            S.SELF_TEST: self._self_test,
            S.HOMING: self._homing,
            S.LOCATING: self._locating,
            S.MAPPING: self._mapping,
            S.ACQUIRING: self._acquiring,
            S.EMITTING: self._emitting,
            S.DEGRADED: self._degraded,
            S.RECOVERING: self._recovering,
            S.STANDBY: self._idle,
            S.FAULT: self._idle,
        }
        while True:
            try:
                self._poll()
                handlers[self.sm.state]()
            except Preempted:
                continue
            except Stopped:
                break
            except Exception as exc:  # an instrument or procedure failed: FAULT with why
                msg = f"{self.sm.state.value}: {type(exc).__name__}: {exc}"
                if isinstance(exc, IllegalTransitionError):
                    self.bugs.append(msg)
                self._log("error", msg)
                with contextlib.suppress(Exception):
                    self._laser_off()
                if self.sm.state is not S.FAULT:
                    self._go(S.FAULT, msg)
        with contextlib.suppress(Exception):
            self._laser_off()

    # ------------------------------------------------------------------ boot
    def _power_on(self) -> None:
        if self._ins is None:
            self._ins, self._faults = build_device_backend(self.s.twin, boot=self.boot)
        self.power_on_s = self.now_s()
        self.view.start_session(self.boot)
        self._go(S.SELF_TEST, f"power on (boot {self.boot})")

    def _self_test(self) -> None:
        problems = self_test(self.ins, laser_power_w=self.s.supervisor.laser_power_w)
        if problems:
            self._go(S.FAULT, "self test failed: " + "; ".join(problems))
        else:
            self._go(S.HOMING, "self test passed (laser, thermometer, stage, detectors, ...)")

    def _z_reference(self) -> float:
        """Centre of the surface search: the first successful boot's surface (homing errors
        are fresh draws about the mount; a failed boot's z is never chained)."""
        ref = self.store.get("z_surface_ref_m")
        if ref is None:
            ref = self.store.get("z_surface_m")
        return float(ref) if ref is not None else 0.0

    def _find_surface(self) -> float | None:
        """Surface search; on failure FAULT with the reason and ``None``."""
        try:
            self.z_surface = surface_focus(self.ins, self._z_reference())
        except RegistrationFailed as exc:
            self._laser_off()
            self._go(S.FAULT, f"surface search failed: {exc}")
            return None
        return self.z_surface

    def _homing(self) -> None:
        home(self.ins)
        self._laser_on()
        self._poll()
        self.z_surface = None  # persisted only once the frame registers (LOCATING)
        z = self._find_surface()
        if z is None:
            return
        self._go(S.LOCATING, f"stage homed; surface focus at z = {z * 1e6:.2f} µm")

    def _locating(self) -> None:
        self._laser_on()
        if self.z_surface is None and self._find_surface() is None:
            return
        assert self.z_surface is not None
        last = self.view.latest_transform()
        prior = Similarity2D.identity() if last is None else last
        try:
            reg = locate_frame(self.ins, prior, self.z_surface, self.s.chip_size_m)
        except RegistrationFailed as exc:
            self._laser_off()
            self._go(S.FAULT, f"frame registration failed: {exc}")
            return
        self.reg = reg
        self.view.record_transform(reg)
        self.store.put(z_surface_m=self.z_surface)
        if self.store.get("z_surface_ref_m") is None:
            self.store.put(z_surface_ref_m=self.z_surface)
        why = (
            f"frame registered ({reg.method}, {reg.n_marks} mark(s), "
            f"rms {reg.fit.rms_m * 1e9:.0f} nm)"
        )
        n_tiles = len(mapping_tiles(self.s))
        done = self.store.get("mapping_tiles_done")
        if self.remap_requested:
            self._go(S.MAPPING, f"{why}; remap requested")
        elif done is None and self.view.count() == 0:
            self._go(S.MAPPING, f"{why}; first boot: the registry is empty")
        elif done is not None and len(done) < n_tiles:
            self._go(S.MAPPING, f"{why}; mapping interrupted at tile {len(done)}/{n_tiles}")
        else:
            self._go(S.ACQUIRING, why)

    def _mapping(self) -> None:
        if self.reg is None or self.z_surface is None:
            self._go(S.LOCATING, "mapping needs a frame registration")
            return
        if self.remap_requested:
            self.store.put(mapping_tiles_done=[])
            self.remap_requested = False
        tiles = mapping_tiles(self.s)
        done = set(self.store.get("mapping_tiles_done") or [])
        self._laser_on()
        fresh = True
        for k, tile in enumerate(tiles):
            if k in done:
                continue
            self._poll()
            if not fresh:
                self._reregister()
            fresh = False
            try:
                res = discover_tile(self.ins, self.reg, tile, self.z_surface, self.s, self.cancel)
            except OperationCancelled:
                self._poll()
                continue
            added = self.view.add_discovered(res.emitters, self.reg, self.z_surface)
            done.add(k)
            self.store.put(mapping_tiles_done=sorted(done))
            self._log(
                "info", f"mapping tile {len(done)}/{len(tiles)}: {added} new emitter(s)",
                tile=k, found=len(res.emitters), qualified=len(res.qualified),
            )  # fmt: skip
            self.live.set_emitters(self.view.infos(self.current))
        n_q = len(self.view.qualified())
        self._go(
            S.LOCATING,
            f"mapping complete: {self.view.count()} emitters, {n_q} qualified; "
            "re-registering the frame (drift during mapping)",
        )

    def _reregister(self) -> None:
        """Refresh the registration between discovery tiles (the sample drifts meanwhile)."""
        assert self.reg is not None
        assert self.z_surface is not None
        try:
            reg = locate_frame(self.ins, self.reg.transform, self.z_surface, self.s.chip_size_m)
        except RegistrationFailed as exc:
            self._log("health", f"re-registration between tiles failed ({exc}): keeping the last")
            return
        self.reg = reg
        self.view.record_transform(reg)

    # ------------------------------------------------------------------ acquire
    def _acquiring(self) -> None:
        if self.reg is None or self.z_surface is None:
            self._go(S.LOCATING, "no frame registration")
            return
        order = [i for i in (self.requested, self.current) if i is not None]
        targets = self.view.targets(order, _MAX_TARGETS)
        self.requested = None
        if not targets:
            self._laser_off()
            self._go(S.FAULT, f"no qualified emitter in the registry ({self.view.count()} mapped)")
            return
        self._laser_on()
        out = acquire(
            self.ins, self.reg, self.z_surface, [to_candidate(t) for t in targets],
            config=RETURN_CONFIG,
        )  # fmt: skip
        notes = self.view.record_return(out, self.reg, self.z_surface)
        for n in notes:
            self._log("health", n)
        self._log(
            "info", f"return: {out.outcome}" + (f" ({out.reason})" if out.reason else ""),
            outcome=out.outcome, emitter_id=None if out.emitter is None else out.emitter.key,
            tried=len(out.attempts), acquire_s=out.timings_s.get("acquire"),
        )  # fmt: skip
        if out.emitter is None or out.refocus is None:
            self._laser_off()
            self._go(S.FAULT, "no emitter could be acquired: " + "; ".join(notes[-3:]))
            return
        m, eid = out.refocus, out.emitter.key
        previous = self.current
        self.current = eid
        self.store.put(current_emitter=eid)
        self.tracker = DriftTracker(
            self.ins.stage, self.ins.clock, self.ins.thermometer, make_locator(self.ins),
            (m.x_m, m.y_m, m.z_m),
        )  # fmt: skip
        self.supervisor = Supervisor(self.s.supervisor, m.rate_per_s, self.now_s())
        self.live.set_emitters(self.view.infos(eid))
        self._publish_position()
        why = f"serving {eid} ({m.rate_per_s:.3g} cps)"
        if previous is not None and previous != eid:
            why += f", replacing {previous}"
        self._go(S.EMITTING, why)

    # ------------------------------------------------------------------ emit
    def _emitting(self) -> None:
        sup, tracker = self.supervisor, self.tracker
        if sup is None or tracker is None:
            self._go(S.ACQUIRING, "no emitter under supervision")
            return
        cfg = self.s.supervisor
        wall0, sim0 = time.monotonic(), self.now_s()
        while True:
            self._poll()
            f = sup.check_sample(self._sample())
            if f.ok and sup.g2_due(self.now_s()):
                g = measure_g2(self.ins, cfg.g2_duration_s)
                self._publish_g2(g)
                f = sup.check_g2(g.g2_0, g.g2_0_err)
            if not f.ok:
                self.finding = f
                self._log("health", f.reason, action=f.action.value, **f.data)
                if f.action is Action.OVER_TEMPERATURE:
                    self._laser_off()
                    self._go(S.FAULT, f.reason)
                else:
                    self._go(S.DEGRADED, f.reason)
                return
            if sup.drift_due(self.now_s()):
                tracker.step()
                self._publish_position()
            # let the interfaces' threads run between instrument steps; with wall_paced the
            # instrument clock never runs ahead of wall time while emitting
            ahead = (self.now_s() - sim0) - (time.monotonic() - wall0) if cfg.wall_paced else 0
            self.stopping.wait(min(max(ahead, 0.001), 0.5))

    # ------------------------------------------------------------------ recover
    def _degraded(self) -> None:
        f = self.finding
        self._go(S.RECOVERING, f"recovering from {f.action.value if f else 'a fault'}")

    def _rate_ok(self) -> bool:
        sup = self.supervisor
        if sup is None:
            return False
        rate = self.ins.tagger.count_rates(self.s.supervisor.sample_period_s).total_rate_per_s
        cfg = self.s.supervisor
        return cfg.min_rate_fraction * sup.reference_rate_cps <= rate <= cfg.max_rate_cps

    def _recovering(self) -> None:
        f = self.finding or Finding(Action.LOW_RATE, "unknown")
        cfg = self.s.supervisor
        if not self.budget.spend(self.now_s()):
            self._laser_off()
            self._go(
                S.FAULT,
                f"more than {cfg.max_recoveries} recoveries within {cfg.recovery_window_s:g} s;"
                f" last: {f.reason}",
            )
            return
        if f.action is Action.LASER:
            self._laser_on()
            if abs(self.ins.laser.power_w - cfg.laser_power_w) > cfg.laser_power_tolerance * (
                cfg.laser_power_w
            ):
                self._laser_off()
                self._go(S.FAULT, f"laser does not reach its set point ({f.reason})")
                return
            if self._rate_ok():
                self._go(S.EMITTING, f"laser power restored to {cfg.laser_power_w * 1e3:.3f} mW")
                return
        elif f.action is Action.SATURATED:
            t0 = self.now_s()
            while True:
                self.ins.laser.off()
                self.ins.clock.wait(1.0)
                self._poll()
                self._laser_on()
                rate = self.ins.tagger.count_rates(0.05).total_rate_per_s
                if rate <= cfg.max_rate_cps:
                    break
                if self.now_s() - t0 > cfg.saturation_timeout_s:
                    self._laser_off()
                    self._go(
                        S.FAULT,
                        f"detector saturation persists for > {cfg.saturation_timeout_s:g} s "
                        f"({rate:.3g} cps)",
                    )
                    return
            if self._rate_ok():
                self._go(S.EMITTING, f"saturation cleared after {self.now_s() - t0:.1f} s")
                return
        self._refind(f)

    def _refind(self, f: Finding) -> None:
        """Refocus where the tracker expects the emitter; else re-register and navigate."""
        self._laser_on()
        tracker, sup = self.tracker, self.supervisor
        if tracker is None or sup is None:
            self._go(S.LOCATING, "emitter lost: re-registering the frame")
            return
        x0, y0, z0 = (float(v) for v in tracker.filter.position_m)
        m = make_locator(self.ins)(x0, y0, z0)
        shift = math.hypot(m.x_m - x0, m.y_m - y0) if m.ok else math.inf
        bright = m.ok and m.rate_per_s >= self.s.supervisor.min_rate_fraction * (
            sup.reference_rate_cps
        )
        if m.ok and shift <= _SAME_EMITTER_M and bright:
            if f.action is Action.MULTI_PHOTON:
                g = measure_g2(self.ins, self.s.supervisor.g2_duration_s)
                self._publish_g2(g)
                again = sup.check_g2(g.g2_0, g.g2_0_err)
                if not again.ok and self.current is not None:
                    self.view.retire(self.current, again.reason)
                    self._go(S.ACQUIRING, f"{self.current} retired ({again.reason}): switching")
                    return
            self.tracker = DriftTracker(
                self.ins.stage, self.ins.clock, self.ins.thermometer, make_locator(self.ins),
                (m.x_m, m.y_m, m.z_m),
            )  # fmt: skip
            self._publish_position()
            self._go(S.EMITTING, f"refocused on {self.current} ({m.rate_per_s:.3g} cps)")
            return
        why = m.reason if not m.ok else f"found {shift * 1e9:.0f} nm away, {m.rate_per_s:.3g} cps"
        self._go(S.LOCATING, f"{self.current} not at its tracked position ({why}): re-registering")
