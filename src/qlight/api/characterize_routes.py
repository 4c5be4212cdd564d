"""REST routes of the characterization jobs (issue 6 "Certificate" on the running device).

* ``POST /api/v1/emitters/{id}/characterize`` (token): body
  :class:`~qlight.device.characterize_types.CharacterizationRequest` (every field optional,
  an empty body is fine) → **202** with the queued
  :class:`~qlight.device.characterize_types.CharacterizationJob`; 404 unknown emitter, 409 not
  possible now (another job runs, the device is not EMITTING/STANDBY, the emitter is not
  qualified, or the device does not support characterization), 422 malformed body.
* ``GET /api/v1/characterization/{job}`` (open): the job now (state, progress, step, error,
  result paths); 404 unknown job (409 when the device has no characterization).
* ``POST /api/v1/characterization/{job}/cancel`` (token): ask the job to stop; 404 unknown.

The device behind the app may be the :class:`~qlight.api.booting.BootingService` stand-in;
the routes use the attached device when it implements
:class:`~qlight.device.service_types.CharacterizationService`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from qlight.device.characterize_types import (
    CharacterizationJob,
    CharacterizationRequest,
    JobNotFoundError,
)
from qlight.device.service_types import CharacterizationService, CommandRejectedError

__all__ = ["make_characterize_router"]

_COMMAND = "characterize"


def _characterizer(request: Request) -> CharacterizationService:
    service = request.app.state.service
    for candidate in (service, getattr(service, "device", None)):
        if isinstance(candidate, CharacterizationService):
            return candidate
    if getattr(service, "device", True) is None:
        raise CommandRejectedError(_COMMAND, "the device is still starting")
    raise CommandRejectedError(_COMMAND, "this device does not support characterization")


def _job_or_404(get: Callable[[str], CharacterizationJob], job_id: str) -> CharacterizationJob:
    try:
        return get(job_id)
    except JobNotFoundError:
        raise HTTPException(404, f"no characterization job {job_id!r}") from None


def make_characterize_router(
    prefix: str,
    require_token: Callable[..., Coroutine[Any, Any, None]],
    errors: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """The routes of the module docstring under ``prefix`` (``/api/v1``).

    ``require_token`` is the app's bearer-token dependency, ``errors`` its documented
    401/409 answers.
    """
    router = APIRouter(prefix=prefix, tags=["characterization"])
    auth = [Depends(require_token)]
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"description": "No emitter (or job) with this ID."}
    }

    @router.post(
        "/emitters/{emitter_id}/characterize",
        response_model=CharacterizationJob,
        status_code=202,
        dependencies=auth,
        responses={**errors, **not_found},
    )
    def characterize(
        emitter_id: str,
        request: Request,
        body: Annotated[CharacterizationRequest | None, Body()] = None,
    ) -> CharacterizationJob:
        """Characterize a qualified emitter: HBT, power series, pulsed, spectrum (a job)."""
        return _characterizer(request).characterize(emitter_id, body)

    @router.get(
        "/characterization/{job_id}",
        response_model=CharacterizationJob,
        responses={**not_found, 409: errors[409]},
    )
    def job(job_id: str, request: Request) -> CharacterizationJob:
        """A characterization job: state, progress, and the files once done."""
        return _job_or_404(_characterizer(request).characterization, job_id)

    @router.post(
        "/characterization/{job_id}/cancel",
        response_model=CharacterizationJob,
        dependencies=auth,
        responses={**errors, **not_found},
    )
    def cancel(job_id: str, request: Request) -> CharacterizationJob:
        """Ask a characterization job to stop at its next acquisition chunk."""
        return _job_or_404(_characterizer(request).cancel_characterization, job_id)

    return router
