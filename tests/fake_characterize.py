"""A fake device with characterization jobs, for the route and CLI error-path tests.

:class:`FakeCharacterizingDevice` is :class:`tests.api_fakes.FakeDeviceService` plus the
optional :class:`~qlight.device.service_types.CharacterizationService` extension. Jobs are
deterministic and advance on reads: each ``characterization(job)`` call moves a running job
on by ``1 / steps`` of progress; at the end it is ``done`` with ``result`` (when given) or
``failed`` with ``fail_reason``.
"""

from __future__ import annotations

from tests.api_fakes import FakeDeviceService

from qlight.device.characterize_types import (
    CharacterizationFiles,
    CharacterizationJob,
    CharacterizationRequest,
    JobBoard,
    JobState,
)
from qlight.device.service_types import CommandRejectedError, DeviceState

__all__ = ["FakeCharacterizingDevice"]


class FakeCharacterizingDevice(FakeDeviceService):
    """See the module docstring."""

    def __init__(
        self,
        *,
        result: CharacterizationFiles | None = None,
        fail_reason: str = "fake instrument failure",
        steps: int = 3,
        **kw: object,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.board = JobBoard()
        self.result = result
        self.fail_reason = fail_reason
        self.steps = steps
        self.requests: list[CharacterizationRequest] = []

    def characterize(
        self, emitter_id: str, request: CharacterizationRequest | None = None
    ) -> CharacterizationJob:
        self.emitter(emitter_id)  # EmitterNotFoundError → 404
        if self.status().state not in (DeviceState.EMITTING, DeviceState.STANDBY):
            raise CommandRejectedError("characterize", "only from EMITTING or STANDBY")
        req = request or CharacterizationRequest()
        job = self.board.create(emitter_id, req, "2026-01-01T00:00:00+00:00")
        if job is None:
            raise CommandRejectedError("characterize", "a job is still running")
        self.requests.append(req)
        return job

    def characterization(self, job_id: str) -> CharacterizationJob:
        job = self.board.get(job_id)
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            p = min(job.progress + 1.0 / self.steps, 1.0)
            if self.board.cancel_event(job_id).is_set():
                return self.board.update(job_id, state=JobState.CANCELLED, error="cancelled")
            if p < 1.0:
                return self.board.update(job_id, state=JobState.RUNNING, progress=p, step="hbt")
            if self.result is None:
                return self.board.update(job_id, state=JobState.FAILED, error=self.fail_reason)
            return self.board.update(
                job_id, state=JobState.DONE, progress=1.0, step="done", result=self.result
            )
        return job

    def cancel_characterization(self, job_id: str) -> CharacterizationJob:
        return self.board.request_cancel(job_id)
