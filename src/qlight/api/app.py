"""The REST API of the device (FastAPI; OpenAPI at ``/docs`` and ``/openapi.json``).

Routes under ``/api/v1`` (issue 5, "Interfaces"): reads are open; commands need
``Authorization: Bearer <token>`` (401 otherwise, compared in constant time). Domain errors
become HTTP errors here and nowhere else (STYLE.md, "Habits" 5):

* :class:`~qlight.device.service_types.EmitterNotFoundError` → 404 ``{"detail": …}``;
* :class:`~qlight.device.service_types.CommandRejectedError` → 409
  ``{"detail": reason, "command": name}``;
* a malformed body or query → 422 (FastAPI's validation error).

The app also serves the WebSocket stream (:mod:`qlight.api.stream`), Prometheus
``/metrics`` (:mod:`qlight.api.metrics`) and the web dashboard at ``/``
(:mod:`qlight.api.dashboard`). The app never starts or stops the device: its owner
(:mod:`qlight.api.server`, or a test) does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from qlight import __version__
from qlight.api.auth import token_matches
from qlight.api.characterize_routes import make_characterize_router
from qlight.api.dashboard import mount_dashboard
from qlight.api.metrics import CONTENT_TYPE_LATEST, ApiMetrics, MetricsMiddleware
from qlight.api.stream import StreamSettings, make_stream_router
from qlight.device.service_types import (
    ChipMap,
    CommandRejectedError,
    CommandResult,
    DeviceService,
    DeviceStatus,
    EmitterInfo,
    EmitterNotFoundError,
    Event,
    FaultKind,
    G2Snapshot,
    RateSample,
)

__all__ = ["API_PREFIX", "InjectFaultRequest", "SelectEmitterRequest", "create_app"]

API_PREFIX = "/api/v1"


class ErrorBody(BaseModel):
    """Body of every 401/404/409 answer."""

    detail: str
    command: str | None = None


class SelectEmitterRequest(BaseModel):
    """Body of ``POST /device/select-emitter``."""

    model_config = ConfigDict(extra="forbid")
    emitter_id: str = Field(min_length=1, max_length=200, description="Registry emitter ID.")


class InjectFaultRequest(BaseModel):
    """Body of ``POST /device/inject-fault``."""

    model_config = ConfigDict(extra="forbid")
    fault: FaultKind


_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    409: {"model": ErrorBody, "description": "Command not allowed now (reason in detail)."},
}
_bearer = HTTPBearer(auto_error=False, description="The API token (`qlight run` prints it).")


async def _service(request: Request) -> DeviceService:
    service: DeviceService = request.app.state.service
    return service


# Dependencies are coroutines: FastAPI would run plain functions in the threadpool.
ServiceDep = Annotated[DeviceService, Depends(_service)]


class _UnauthorizedError(Exception):
    pass


async def _require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected: str = request.app.state.api_token
    presented = credentials.credentials if credentials is not None else None
    if not token_matches(presented, expected):
        raise _UnauthorizedError


def _read_router() -> APIRouter:
    # Snapshots are cheap and never wait for instrument work (DeviceService contract), so
    # they run on the event loop; the event log reads a database and runs in the threadpool.
    router = APIRouter(prefix=API_PREFIX, tags=["device (read)"])

    @router.get("/device", response_model=DeviceStatus)
    async def device(service: ServiceDep) -> DeviceStatus:
        """State, current emitter, count rate, g2(0) estimate and uptime."""
        return service.status()

    @router.get("/emitters", response_model=list[EmitterInfo])
    async def emitters(service: ServiceDep) -> list[EmitterInfo]:
        """Every emitter of the registry."""
        return service.emitters()

    @router.get(
        "/emitters/{emitter_id}",
        response_model=EmitterInfo,
        responses={404: {"model": ErrorBody, "description": "No emitter with this ID."}},
    )
    async def emitter(emitter_id: str, service: ServiceDep) -> EmitterInfo:
        """One registry emitter."""
        return service.emitter(emitter_id)

    @router.get("/events", response_model=list[Event])
    def events(
        service: ServiceDep,
        after_id: Annotated[int, Query(ge=0, description="Only events with id > after_id.")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
    ) -> list[Event]:
        """The persistent event log, oldest first (page with ``after_id``)."""
        return service.events(after_id=after_id, limit=limit)

    @router.get("/measurements/g2", response_model=G2Snapshot | None)
    async def g2(service: ServiceDep) -> G2Snapshot | None:
        """The latest g2 histogram (``null`` before the first one)."""
        return service.latest_g2()

    @router.get("/measurements/rate", response_model=list[RateSample])
    async def rate(
        service: ServiceDep,
        limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many.")] = 600,
    ) -> list[RateSample]:
        """The count-rate trend, oldest first."""
        return service.rate_history(limit=limit)

    @router.get("/chip-map", response_model=ChipMap)
    async def chip_map(service: ServiceDep) -> ChipMap:
        """Marks, emitters, target and current position in the chip frame (µm)."""
        return service.chip_map()

    return router


def _command_router() -> APIRouter:
    router = APIRouter(
        prefix=f"{API_PREFIX}/device",
        tags=["device (commands)"],
        dependencies=[Depends(_require_token)],
        responses=_AUTH_ERRORS,
    )

    @router.post("/standby", response_model=CommandResult)
    def standby(service: ServiceDep) -> CommandResult:
        """Go to STANDBY (laser off, position kept)."""
        return service.standby()

    @router.post("/resume", response_model=CommandResult)
    def resume(service: ServiceDep) -> CommandResult:
        """Leave STANDBY/FAULT and return to EMITTING."""
        return service.resume()

    @router.post("/remap", response_model=CommandResult)
    def remap(service: ServiceDep) -> CommandResult:
        """Run MAPPING (discovery) again, then return to EMITTING."""
        return service.remap()

    @router.post("/select-emitter", response_model=CommandResult)
    def select_emitter(
        body: Annotated[SelectEmitterRequest, Body()], service: ServiceDep
    ) -> CommandResult:
        """Serve this registry emitter (409 if unknown or not allowed now)."""
        return service.select_emitter(body.emitter_id)

    @router.post("/power-cycle", response_model=CommandResult)
    def power_cycle(service: ServiceDep) -> CommandResult:
        """Twin only: switch the instruments off and on."""
        return service.power_cycle()

    @router.post("/inject-fault", response_model=CommandResult)
    def inject_fault(
        body: Annotated[InjectFaultRequest, Body()], service: ServiceDep
    ) -> CommandResult:
        """Twin only: inject an instrument fault."""
        return service.inject_fault(body.fault)

    return router


def create_app(
    service: DeviceService,
    *,
    api_token: str,
    stream: StreamSettings | None = None,
    dashboard: bool = True,
) -> FastAPI:
    """Build the FastAPI app of a running device.

    Parameters
    ----------
    service : DeviceService
        The device (started and stopped by the caller).
    api_token : str
        Bearer token that authorises commands.
    stream : StreamSettings, optional
        Pacing of the WebSocket stream.
    dashboard : bool
        Mount the web dashboard (:func:`qlight.api.dashboard.mount_dashboard`) at ``/``.
    """
    if not api_token:
        raise ValueError("api_token must not be empty")
    metrics = ApiMetrics(service)
    app = FastAPI(
        title="qlight device API",
        version=__version__,
        description="REST interface of the qlight single-photon source (issue 5). "
        "Reads are open; commands need `Authorization: Bearer <token>`.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.service = service
    app.state.api_token = api_token
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(_UnauthorizedError)
    async def _unauthorized(request: Request, exc: _UnauthorizedError) -> JSONResponse:
        return JSONResponse(
            {"detail": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(EmitterNotFoundError)
    async def _not_found(request: Request, exc: EmitterNotFoundError) -> JSONResponse:
        emitter_id = exc.args[0] if exc.args else "?"
        return JSONResponse({"detail": f"no emitter with id {emitter_id!r}"}, status_code=404)

    @app.exception_handler(CommandRejectedError)
    async def _rejected(request: Request, exc: CommandRejectedError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason, "command": exc.command}, status_code=409)

    # Routers carry the full prefix themselves, so the metrics' route label is the full path.
    app.include_router(_read_router())
    app.include_router(_command_router())
    app.include_router(make_characterize_router(API_PREFIX, _require_token, _AUTH_ERRORS))
    app.include_router(
        make_stream_router(
            service,
            prefix=API_PREFIX,
            settings=stream,
            on_open=metrics.websocket_clients.inc,
            on_close=metrics.websocket_clients.dec,
        )
    )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness: answers as soon as the server runs, whatever the device state."""
        return {"status": "ok"}

    if dashboard:
        mount_dashboard(app)
    return app
