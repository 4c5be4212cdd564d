"""Models of the characterization job on the running device (issue 6 "Certificate", issue 5).

``POST /api/v1/emitters/{id}/characterize`` takes a :class:`CharacterizationRequest` and
answers a :class:`CharacterizationJob`; ``GET /api/v1/characterization/{job}`` returns the job
as it is now (state, progress, and once done the :class:`CharacterizationFiles` written).
The acquisition itself is :mod:`qlight.device.characterize_plan`; the job bookkeeping
(thread-safe, read by the interfaces while the controller thread measures) is
:class:`JobBoard`.
"""

from __future__ import annotations

import threading
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CharacterizationFiles",
    "CharacterizationJob",
    "CharacterizationRequest",
    "JobBoard",
    "JobNotFoundError",
    "JobState",
]


class JobState(StrEnum):
    """Life of a characterization job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


_FINAL = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class CharacterizationRequest(BaseModel):
    """Acquisition settings of a characterization (every field optional).

    Durations are instrument-clock seconds. ``powers_w`` is the laser power series of the
    saturation measurement (default: 0.25, 0.5, 1, 2 and 4 times the operating power, capped
    at the laser's maximum).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    hbt_duration_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="CW HBT acquisition (g2, rate, trace)."
    )
    pulsed_duration_s: float = Field(
        default=2.0, gt=0.0, le=600.0, description="Pulsed acquisition (lifetime)."
    )
    power_step_s: float = Field(
        default=0.5, gt=0.0, le=60.0, description="Count-rate reading per power step."
    )
    powers_w: list[float] | None = Field(
        default=None, min_length=3, max_length=32, description="Saturation power series (W)."
    )
    spectrum_exposure_s: float = Field(default=2.0, gt=0.0, le=600.0)
    rep_rate_hz: float = Field(default=80e6, ge=1e5, le=1e9, description="Pulsed laser rate.")
    background_offset_um: float = Field(
        default=2.0, gt=0.0, le=20.0, description="Lateral offset of the background readings."
    )


class CharacterizationFiles(BaseModel):
    """What a finished job wrote (absolute paths) and the settings it ran with."""

    model_config = ConfigDict(frozen=True)
    directory: str
    manifest: str = Field(description="JSON with every path and setting below.")
    hbt: str = Field(description="CW HBT acquisition, Photon-HDF5.")
    pulsed: str = Field(description="Pulsed acquisition, Photon-HDF5 (with repetition rate).")
    power_series: str = Field(description="CSV power_w,counts,duration_s.")
    spectrum: str = Field(description="CSV wavelength_nm,counts.")
    spectrum_resolution_nm: float
    laser_power_w: float = Field(description="Operating power of the HBT and the spectrum.")
    rep_rate_hz: float
    background_cps: float = Field(description="Background per detector, off the emitter.")
    position_m: tuple[float, float, float] = Field(description="Stage position of the focus.")


class CharacterizationJob(BaseModel):
    """A characterization job as the interfaces see it."""

    model_config = ConfigDict(frozen=True)
    job_id: str
    emitter_id: str
    state: JobState
    progress: float = Field(ge=0.0, le=1.0)
    step: str = Field(description="What the job is doing (or did last).")
    error: str | None = Field(description="Why it failed or was cancelled.")
    created_utc: str
    request: CharacterizationRequest
    result: CharacterizationFiles | None = None


class JobNotFoundError(KeyError):
    """No characterization job with this ID."""


class JobBoard:
    """Thread-safe store of characterization jobs (one active at a time).

    The interfaces' threads create, read and cancel jobs; the controller thread runs them and
    reports progress. Every method takes one short lock.
    """

    def __init__(self, keep: int = 50) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, CharacterizationJob] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._keep = keep

    def active(self) -> CharacterizationJob | None:
        """The queued or running job, if any."""
        with self._lock:
            return next((j for j in self._jobs.values() if j.state not in _FINAL), None)

    def create(
        self, emitter_id: str, request: CharacterizationRequest, created_utc: str
    ) -> CharacterizationJob | None:
        """Register a queued job; None when another job is still active."""
        with self._lock:
            if any(j.state not in _FINAL for j in self._jobs.values()):
                return None
            job = CharacterizationJob(
                job_id=uuid.uuid4().hex[:16], emitter_id=emitter_id, state=JobState.QUEUED,
                progress=0.0, step="queued", error=None, created_utc=created_utc,
                request=request,
            )  # fmt: skip
            self._jobs[job.job_id] = job
            self._cancel[job.job_id] = threading.Event()
            old = [k for k, j in self._jobs.items() if j.state in _FINAL]
            for k in old[: max(0, len(self._jobs) - self._keep)]:
                del self._jobs[k]
                del self._cancel[k]
            return job

    def get(self, job_id: str) -> CharacterizationJob:
        """The job now; raises :class:`JobNotFoundError`."""
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise JobNotFoundError(job_id) from None

    def cancel_event(self, job_id: str) -> threading.Event:
        """The event that cancels ``job_id`` when set."""
        with self._lock:
            return self._cancel[job_id]

    def request_cancel(self, job_id: str) -> CharacterizationJob:
        """Ask the job to stop (no effect on a finished one)."""
        with self._lock:
            if job_id not in self._jobs:
                raise JobNotFoundError(job_id)
            self._cancel[job_id].set()
            return self._jobs[job_id]

    def update(self, job_id: str, **changes: object) -> CharacterizationJob:
        """Apply ``changes`` (state, progress, step, error, result) to a job."""
        with self._lock:
            job = self._jobs[job_id].model_copy(update=changes)
            self._jobs[job_id] = job
            return job
