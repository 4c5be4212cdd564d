"""The contract between the device service and its interfaces (REST, WebSocket, SCPI, dashboard).

:class:`DeviceService` is what :mod:`qlight.api` sees of the running device: read-only
snapshots (cheap, thread-safe, never blocking on instrument work) and commands (validated,
queued for the state machine, answered at once with a :class:`CommandResult`). The models are
pydantic so that the REST layer serialises them as they are; every physical quantity carries
its unit in the field name and, where it is an estimate, its uncertainty.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from qlight.device.characterize_types import CharacterizationJob, CharacterizationRequest

__all__ = [
    "CharacterizationService",
    "ChipMap",
    "CommandRejectedError",
    "CommandResult",
    "DeviceService",
    "DeviceState",
    "DeviceStatus",
    "EmitterInfo",
    "EmitterNotFoundError",
    "Event",
    "FaultKind",
    "G2Snapshot",
    "MapMark",
    "RateSample",
]


class DeviceState(StrEnum):
    """States of the device state machine (issue 5)."""

    POWER_ON = "POWER_ON"
    SELF_TEST = "SELF_TEST"
    HOMING = "HOMING"
    LOCATING = "LOCATING"
    ACQUIRING = "ACQUIRING"
    EMITTING = "EMITTING"
    MAPPING = "MAPPING"
    STANDBY = "STANDBY"
    DEGRADED = "DEGRADED"
    RECOVERING = "RECOVERING"
    FAULT = "FAULT"


class FaultKind(StrEnum):
    """Instrument faults the twin can inject (``POST /device/inject-fault``, tests)."""

    LASER_DROP = "laser_drop"
    DETECTOR_SATURATION = "detector_saturation"
    STAGE_ERROR = "stage_error"
    BLEACH = "bleach"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceStatus(_Model):
    """One consistent snapshot of the device (``GET /api/v1/device``)."""

    state: DeviceState
    state_reason: str = Field(description="Why the device entered its current state.")
    state_since_s: float = Field(description="Uptime at which the current state was entered.")
    emitter_id: str | None = Field(description="Registry ID of the emitter being served.")
    count_rate_cps: float | None = Field(description="Detected count rate (sum of channels).")
    count_rate_unc_cps: float | None = Field(description="1σ Poisson uncertainty of the rate.")
    g2_0: float | None = Field(description="Latest g2(0) estimate (background-uncorrected).")
    g2_0_ci95: tuple[float, float] | None = Field(description="95 % interval of g2(0).")
    uptime_s: float = Field(description="Wall-clock seconds since the service started.")
    sim_time_s: float = Field(description="Instrument clock (simulated on the twin) in s.")
    power_on_to_emitting_s: float | None = Field(
        description="Instrument-clock seconds from power-on to the last entry into EMITTING."
    )
    laser_power_w: float | None
    temperature_k: float | None
    backend: Literal["twin"] = "twin"
    pace: Literal["fast", "realtime"]
    version: str
    serial: str
    update_seq: int = Field(description="Increases with every published change.")


class Event(_Model):
    """One entry of the persistent structured event log (``GET /api/v1/events``)."""

    id: int
    time_utc: str = Field(description="ISO 8601 UTC wall time.")
    sim_time_s: float
    kind: Literal["transition", "command", "fault", "health", "info", "error"]
    state_from: DeviceState | None = None
    state_to: DeviceState | None = None
    reason: str
    data: dict[str, float | int | str | bool | None] = Field(default_factory=dict)


class EmitterInfo(_Model):
    """A registry emitter as the interfaces show it (``GET /api/v1/emitters``)."""

    id: str
    x_um: float = Field(description="Chip-frame x in µm.")
    y_um: float = Field(description="Chip-frame y in µm.")
    sigma_xy_nm: float | None = Field(description="1σ localization uncertainty in nm.")
    status: str = Field(description="Registry status (qualified, bleached, rejected, …).")
    quality: float | None
    g2_0: float | None
    brightness_cps: float | None
    zpl_nm: float | None
    polarization_deg: float | None
    n_observations: int
    last_seen_utc: str | None
    is_current: bool


class RateSample(_Model):
    """One point of the count-rate trend."""

    sim_time_s: float
    uptime_s: float
    rate_cps: float


class G2Snapshot(_Model):
    """The latest g2 histogram while EMITTING (``GET /api/v1/measurements/g2``)."""

    emitter_id: str | None
    tau_ns: list[float]
    g2: list[float] = Field(description="Normalised g2(τ) per bin.")
    counts: list[int] = Field(description="Raw coincidences per bin.")
    g2_0: float
    g2_0_ci95: tuple[float, float]
    integration_s: float
    sim_time_s: float


class MapMark(_Model):
    """A point of the chip map (fiducial mark or emitter)."""

    id: str
    x_um: float
    y_um: float
    kind: Literal["mark", "emitter"]
    status: str | None = None


class ChipMap(_Model):
    """Everything the dashboard's chip map draws, in the chip frame (µm)."""

    chip_size_um: float | None
    marks: list[MapMark]
    emitters: list[MapMark]
    target_id: str | None
    position_um: tuple[float, float] | None = Field(
        description="Current excitation spot in the chip frame (None before registration)."
    )


class CommandResult(_Model):
    """Answer to a command: accepted (queued) or not, and the state when answered."""

    accepted: bool
    command: str
    state: DeviceState
    message: str


class CommandRejectedError(Exception):
    """A command that is not allowed now or names something that does not exist."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.reason = reason


class EmitterNotFoundError(KeyError):
    """No emitter with this ID in the registry."""


class DeviceService(Protocol):
    """The running device as the interfaces see it.

    Reads return immutable snapshots under a short lock and never wait for instrument work;
    commands validate, enqueue and return a :class:`CommandResult` immediately (they raise
    :class:`CommandRejectedError` when not allowed, e.g. ``select_emitter`` of an unknown ID or
    ``power_cycle`` on a non-twin backend). :meth:`wait_update` lets streams sleep until the
    next published change.
    """

    def start(self) -> None:
        """Start the state machine (power-on) in a background thread; returns at once."""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the state machine and close the stores (idempotent)."""

    def status(self) -> DeviceStatus:
        """Current snapshot."""

    def emitters(self) -> list[EmitterInfo]:
        """All registry emitters."""

    def emitter(self, emitter_id: str) -> EmitterInfo:
        """One emitter; raises :class:`EmitterNotFoundError`."""

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        """Events with ``id > after_id``, oldest first, at most ``limit``."""

    def latest_g2(self) -> G2Snapshot | None:
        """Latest g2 histogram (None before the first one)."""

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        """Most recent count-rate samples, oldest first."""

    def chip_map(self) -> ChipMap:
        """Marks, emitters, target and current position in the chip frame."""

    def standby(self, reason: str = "operator request") -> CommandResult:
        """Go to STANDBY (laser off, position kept)."""

    def resume(self) -> CommandResult:
        """Leave STANDBY/FAULT and return to EMITTING via LOCATING/ACQUIRING."""

    def remap(self) -> CommandResult:
        """Run MAPPING (discovery) again, then return to EMITTING."""

    def select_emitter(self, emitter_id: str) -> CommandResult:
        """Serve this registry emitter (ACQUIRING → EMITTING)."""

    def power_cycle(self) -> CommandResult:
        """Twin only: switch the instruments off and on; the device starts again at POWER_ON."""

    def inject_fault(self, fault: FaultKind) -> CommandResult:
        """Twin only: inject an instrument fault (tests, demos)."""

    def wait_update(self, after_seq: int, timeout_s: float) -> int:
        """Block until ``status().update_seq > after_seq`` or the timeout; return the seq."""


@runtime_checkable
class CharacterizationService(Protocol):
    """Optional extension of :class:`DeviceService`: characterization jobs (issue 6).

    A device that implements it runs the certificate's acquisitions on an emitter
    (:mod:`qlight.device.characterize_control`); the REST API answers 409 when the device
    does not. ``characterize`` validates and queues at once (raising
    :class:`EmitterNotFoundError` or :class:`CommandRejectedError`); the job lookups raise
    :class:`~qlight.device.characterize_types.JobNotFoundError`.
    """

    def characterize(
        self, emitter_id: str, request: CharacterizationRequest | None = None
    ) -> CharacterizationJob:
        """Queue a characterization of ``emitter_id``; the job as queued."""
        ...

    def characterization(self, job_id: str) -> CharacterizationJob:
        """The job now (state, progress, result files)."""
        ...

    def cancel_characterization(self, job_id: str) -> CharacterizationJob:
        """Ask the job to stop."""
        ...
