"""The device service: :func:`create_device` builds the :class:`Device` (issue 5).

:class:`Device` implements :class:`~qlight.device.service_types.DeviceService`. ``start()``
runs the :class:`~qlight.device.controller.Controller` (the state machine) in a background
thread and returns at once; reads return snapshots of :class:`~qlight.device.live.LiveState`
under one short lock; commands are validated here, queued, and answered at once with a
:class:`~qlight.device.service_types.CommandResult` (or :class:`CommandRejectedError`).

The data directory holds ``registry.db`` (the emitter registry) and ``device.db`` (event log
and device state: boot counter, served emitter, mapping progress), see docs/device.md.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from qlight import __version__
from qlight.device.characterize_control import CHARACTERIZE, CharacterizingController
from qlight.device.characterize_types import (
    CharacterizationJob,
    CharacterizationRequest,
    JobBoard,
    JobState,
)
from qlight.device.controller import Controller
from qlight.device.events import EventLog
from qlight.device.live import LiveState
from qlight.device.procedures import LAYOUT
from qlight.device.registry_view import RegistryView
from qlight.device.service_types import (
    ChipMap,
    CommandRejectedError,
    CommandResult,
    DeviceService,
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
from qlight.device.settings import DeviceSettings
from qlight.mapping.registry import Registry

__all__ = ["Device", "create_device"]


def _marks(size_m: float) -> list[MapMark]:
    n_rows, n_cols = LAYOUT.grid_shape(size_m, size_m)
    out = []
    for i in range(n_rows * n_cols):
        x, y = LAYOUT.position_m(i, size_m, size_m)
        out.append(MapMark(id=f"M-{i}", x_um=x * 1e6, y_um=y * 1e6, kind="mark"))
    return out


def _chip_id(settings: DeviceSettings) -> str:
    t = settings.twin
    if t.chip_file is not None:
        return f"chip-{t.chip_file.stem}"[:64]
    return f"twin-{t.preset}-{t.seed}"


class Device:
    """The running device (see the module docstring and ``DeviceService``)."""

    def __init__(self, settings: DeviceSettings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._store = EventLog(settings.device_db)
        self._view = RegistryView(Registry.open(settings.registry_db), _chip_id(settings))
        size = settings.chip_size_m
        self._ctl: Controller | None = None
        self._jobs = JobBoard()
        self._live = LiveState(
            pace=settings.twin.pace,
            version=__version__,
            serial=settings.serial,
            clock=lambda: self._ctl.now_s() if self._ctl is not None else 0.0,
            marks=_marks(size),
            chip_size_um=size * 1e6,
        )
        ctl = CharacterizingController(settings, self._store, self._view, self._live)
        self._jobs = ctl.jobs
        self._ctl = ctl
        self._live.publish(emitter_id=self._ctl.current)
        self._live.set_emitters(self._view.infos(self._ctl.current))
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def controller(self) -> Controller:
        """The state-machine controller (tests inspect ``bugs``)."""
        assert self._ctl is not None
        return self._ctl

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the state machine (power-on) in a background thread; returns at once."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self.controller.run, name="qlight-device", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the state machine and close the stores (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            ctl = self.controller
            ctl.stopping.set()
            ctl.cancel.flag.set()
            if self._thread is not None:
                self._thread.join(timeout_s)
            if self._thread is None or not self._thread.is_alive():
                self._view.close()
                self._store.close()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closed

    # ------------------------------------------------------------------ reads
    def status(self) -> DeviceStatus:
        """Current snapshot."""
        return self._live.status()

    def emitters(self) -> list[EmitterInfo]:
        """All registry emitters."""
        return self._live.emitters()

    def emitter(self, emitter_id: str) -> EmitterInfo:
        """One emitter; raises :class:`EmitterNotFoundError`."""
        for e in self._live.emitters():
            if e.id == emitter_id:
                return e
        raise EmitterNotFoundError(emitter_id)

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        """Events with ``id > after_id``, oldest first, at most ``limit``."""
        return self._store.events(after_id, limit)

    def latest_g2(self) -> G2Snapshot | None:
        """Latest g2 histogram (None before the first one)."""
        return self._live.latest_g2()

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        """Most recent count-rate samples, oldest first."""
        return self._live.rate_history(limit)

    def chip_map(self) -> ChipMap:
        """Marks, emitters, target and current position in the chip frame."""
        return self._live.chip_map()

    def wait_update(self, after_seq: int, timeout_s: float) -> int:
        """Block until ``status().update_seq > after_seq`` or the timeout; return the seq."""
        return self._live.wait(after_seq, timeout_s)

    # ------------------------------------------------------------------ commands
    def _submit(
        self, command: str, arg: str | None, message: str, *, preempt: bool = True
    ) -> CommandResult:
        if not self._running():
            raise CommandRejectedError(command, "the device is not running")
        ctl = self.controller
        ctl.commands.put((command, arg))
        if preempt:
            ctl.cancel.flag.set()
        return CommandResult(
            accepted=True, command=command, state=self._live.state, message=message
        )

    def standby(self, reason: str = "operator request") -> CommandResult:
        """Go to STANDBY (laser off, position kept)."""
        st = self._live.state
        if st in (DeviceState.STANDBY, DeviceState.FAULT):
            raise CommandRejectedError("standby", f"not allowed in {st.value}")
        return self._submit("standby", reason, "going to STANDBY")

    def resume(self) -> CommandResult:
        """Leave STANDBY/FAULT and return to EMITTING via LOCATING/ACQUIRING."""
        st = self._live.state
        if st not in (DeviceState.STANDBY, DeviceState.FAULT):
            raise CommandRejectedError("resume", f"only from STANDBY or FAULT, not {st.value}")
        return self._submit("resume", None, "resuming via LOCATING")

    def remap(self) -> CommandResult:
        """Run MAPPING (discovery) again, then return to EMITTING."""
        st = self._live.state
        if st is DeviceState.FAULT:
            raise CommandRejectedError("remap", "resume from FAULT first")
        return self._submit("remap", None, "MAPPING will run again")

    def select_emitter(self, emitter_id: str) -> CommandResult:
        """Serve this registry emitter (ACQUIRING → EMITTING)."""
        try:
            e = self.emitter(emitter_id)
        except EmitterNotFoundError:
            raise CommandRejectedError("select_emitter", f"no emitter {emitter_id!r}") from None
        if e.status != "qualified":
            raise CommandRejectedError(
                "select_emitter", f"{emitter_id} is {e.status}, not a qualified emitter"
            )
        if self._live.state is DeviceState.FAULT:
            raise CommandRejectedError("select_emitter", "resume from FAULT first")
        return self._submit("select", emitter_id, f"acquiring {emitter_id}")

    def power_cycle(self) -> CommandResult:
        """Twin only: switch the instruments off and on; the device starts again at POWER_ON."""
        if self.settings.backend != "twin":
            raise CommandRejectedError("power_cycle", "only the twin backend can power cycle")
        return self._submit("power_cycle", None, "power cycling the instruments")

    def inject_fault(self, fault: FaultKind) -> CommandResult:
        """Twin only: inject an instrument fault (tests, demos)."""
        try:
            kind = FaultKind(fault)
        except ValueError:
            raise CommandRejectedError("inject_fault", f"unknown fault {fault!r}") from None
        if self.settings.backend != "twin":
            raise CommandRejectedError("inject_fault", "only the twin backend injects faults")
        return self._submit("fault", kind.value, f"injecting {kind.value}", preempt=False)

    # ------------------------------------------------------------------ characterization
    def characterize(
        self, emitter_id: str, request: CharacterizationRequest | None = None
    ) -> CharacterizationJob:
        """Queue a characterization of a qualified emitter (a job; see
        :mod:`qlight.device.characterize_control`); raises :class:`EmitterNotFoundError` or
        :class:`CommandRejectedError` (another job active, FAULT, powers out of range)."""
        req = CharacterizationRequest() if request is None else request
        e = self.emitter(emitter_id)
        if e.status != "qualified":
            raise CommandRejectedError(
                CHARACTERIZE, f"{emitter_id} is {e.status}, not a qualified emitter"
            )
        st = self._live.state
        if st not in (DeviceState.EMITTING, DeviceState.STANDBY):
            raise CommandRejectedError(CHARACTERIZE, f"only from EMITTING or STANDBY, not {st}")
        p_max = self.settings.twin.laser_max_power_w
        if req.powers_w is not None and not all(0.0 < p <= p_max for p in req.powers_w):
            raise CommandRejectedError(CHARACTERIZE, f"powers_w must lie in (0, {p_max}] W")
        if not self._running():
            raise CommandRejectedError(CHARACTERIZE, "the device is not running")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        job = self._jobs.create(emitter_id, req, created)
        if job is None:
            active = self._jobs.active()
            raise CommandRejectedError(
                CHARACTERIZE, f"job {active.job_id if active else '?'} is still running"
            )
        try:
            self._submit(CHARACTERIZE, job.job_id, f"characterizing {emitter_id}")
        except CommandRejectedError as exc:
            self._jobs.update(job.job_id, state=JobState.FAILED, error=exc.reason)
            raise
        return job

    def characterization(self, job_id: str) -> CharacterizationJob:
        """A characterization job now; raises :class:`JobNotFoundError`."""
        return self._jobs.get(job_id)

    def cancel_characterization(self, job_id: str) -> CharacterizationJob:
        """Ask a job to stop at its next acquisition chunk; raises :class:`JobNotFoundError`."""
        return self._jobs.request_cancel(job_id)


def create_device(settings: DeviceSettings) -> DeviceService:
    """Build the device service of ``settings`` (not started: call ``start()``)."""
    return Device(settings)
