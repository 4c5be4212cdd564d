"""The controller with characterization jobs: the plan runs in the state-machine thread.

The controller owns the instruments, so a characterization is a command like ``select``:
:meth:`CharacterizingController._apply` takes ``("characterize", job_id)`` from the command
queue between instrument steps, goes to ACQUIRING ("characterizing E-… (job …)"), reaches
and verifies the emitter (:func:`~qlight.device.characterize_plan.reach_emitter`), runs
:func:`~qlight.device.characterize_plan.acquire_characterization` and then returns, through
the ordinary ACQUIRING handler, to EMITTING on the emitter served before (or on the
characterized one when none was). Reads never wait: the interfaces see the job's progress on
the :class:`~qlight.device.characterize_types.JobBoard` and the device state in
:class:`~qlight.device.live.LiveState`.

A preempting command (standby, remap, select, power cycle) or :meth:`Device.stop` cancels a
running plan at the next acquisition chunk; so does ``cancel_characterization``. Every step,
the outcome and the files land in the event log.
"""

from __future__ import annotations

import datetime as dt

from qlight.device.characterize_plan import (
    PlanFailedError,
    acquire_characterization,
    default_powers_w,
    reach_emitter,
)
from qlight.device.characterize_types import CharacterizationRequest, JobBoard, JobState
from qlight.device.controller import Controller
from qlight.device.controller_base import Preempted, Stopped
from qlight.device.events import EventLog
from qlight.device.live import LiveState
from qlight.device.procedures import to_candidate
from qlight.device.registry_view import RegistryView
from qlight.device.service_types import DeviceState as S
from qlight.device.settings import DeviceSettings
from qlight.instruments.protocols import CancelToken, OperationCancelled

__all__ = ["CHARACTERIZE", "CharacterizingController"]

#: Command name on the controller's queue (argument: the job ID).
CHARACTERIZE = "characterize"


class _AnyCancel:
    """Cancel token set by the job's own event, a preempting command or the service stop."""

    def __init__(self, *tokens: CancelToken) -> None:
        self._tokens = tokens

    def is_set(self) -> bool:
        return any(t.is_set() for t in self._tokens)


class CharacterizingController(Controller):
    """:class:`~qlight.device.controller.Controller` plus characterization jobs."""

    def __init__(
        self, settings: DeviceSettings, store: EventLog, view: RegistryView, live: LiveState
    ) -> None:
        super().__init__(settings, store, view, live)
        self.jobs = JobBoard()

    def _apply(self, name: str, arg: str | None) -> None:
        if name != CHARACTERIZE or arg is None:
            super()._apply(name, arg)
            return
        self.cancel.flag.clear()
        self._log("command", f"{name} {arg}", command=name)
        self._characterize(arg)

    def _characterize(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        eid = job.emitter_id
        st = self.sm.state
        cancel_evt = self.jobs.cancel_event(job_id)
        if cancel_evt.is_set():
            self._finish(job_id, JobState.CANCELLED, "cancelled before it started")
            return
        if self.reg is None or self.z_surface is None or not self.sm.allowed(st, S.ACQUIRING):
            self._finish(job_id, JobState.FAILED, f"not possible in {st.value} "
                         "(needs a registered frame: EMITTING or STANDBY)")  # fmt: skip
            return
        targets = [t for t in self.view.targets([eid], 1) if t.id == eid]
        if not targets:
            self._finish(job_id, JobState.FAILED, f"{eid} is not an active qualified emitter")
            return
        previous = self.current
        self._go(S.ACQUIRING, f"characterizing {eid} (job {job_id})")
        self.jobs.update(job_id, state=JobState.RUNNING, step="navigation", progress=0.0)
        token = _AnyCancel(cancel_evt, self.cancel, self.stopping)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        out_dir = self.s.data_dir / "characterization" / eid / stamp

        def progress(frac: float, step: str) -> None:
            self.jobs.update(job_id, progress=max(0.0, min(frac, 1.0)), step=step)

        def log(msg: str, data: dict[str, object]) -> None:
            self._log("info", f"characterization {eid}: {msg}", job=job_id, **data)

        try:
            self._laser_on()
            x, y, z, rate = reach_emitter(
                self.ins, to_candidate(targets[0]), self.reg, self.z_surface
            )
            log(f"reached and verified ({rate:.3g} cps)", {"rate_cps": rate})
            files = acquire_characterization(
                self.ins, emitter_id=eid, focus_m=(x, y, z), out_dir=out_dir,
                request=job.request, laser_power_w=self.s.supervisor.laser_power_w,
                powers_w=self._powers(job.request), cancel=token, progress=progress, log=log,
            )  # fmt: skip
        except OperationCancelled:
            why = "stopping" if self.stopping.is_set() else (
                "cancelled" if cancel_evt.is_set() else "preempted by a command")  # fmt: skip
            self._finish(job_id, JobState.CANCELLED, why)
        except PlanFailedError as exc:
            self._finish(job_id, JobState.FAILED, str(exc))
        except Exception as exc:  # an instrument failed: the job fails, ACQUIRING then decides
            self._finish(job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self.jobs.update(job_id, state=JobState.DONE, progress=1.0, step="done",
                             result=files)  # fmt: skip
            self._log("info", f"characterization {eid} done: {files.directory}", job=job_id,
                      directory=files.directory)  # fmt: skip
        if self.stopping.is_set():
            raise Stopped
        # Back to EMITTING on the previous emitter through the ordinary ACQUIRING handler.
        self.requested = previous if previous is not None else eid
        raise Preempted

    def _powers(self, request: CharacterizationRequest) -> list[float]:
        if request.powers_w is not None:
            return [float(p) for p in request.powers_w]
        return default_powers_w(self.s.supervisor.laser_power_w, self.s.twin.laser_max_power_w)

    def _finish(self, job_id: str, state: JobState, reason: str) -> None:
        job = self.jobs.update(job_id, state=state, error=reason)
        kind = "error" if state is JobState.FAILED else "info"
        self._log(kind, f"characterization {job.emitter_id} {state.value}: {reason}",
                  job=job_id)  # fmt: skip
