"""The ETSI GS QKD 014 V1.1.1 (2019) REST API of one KME (FastAPI; served by
:mod:`qlight.api.kme_server` over mutual TLS).

Endpoints under ``/api/v1/keys/`` (Sec. 5): ``GET {slave_SAE_ID}/status``, ``POST|GET
{slave_SAE_ID}/enc_keys``, ``POST|GET {master_SAE_ID}/dec_keys``; plus the KME-to-KME
``POST /kme/v1/sync/reserve`` (not in the OpenAPI document; only the peer KME's certificate
may call it). The caller is the SAE whose client certificate CN the configuration maps
(:func:`qlight.api.kme_tls.client_cn`). Every answer is 200 with the standard's object, or
400/401/503 with its Error object (Sec. 6.5) — validation errors and unknown paths included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from qlight.api.kme_peer import SYNC_PATH, HttpPeerLink
from qlight.api.kme_tls import client_cn
from qlight.qkd.kme.errors import KmeError
from qlight.qkd.kme.models import Error, KeyContainer, KeyID, KeyIDs, KeyRequest, Status
from qlight.qkd.kme.service import KmeService
from qlight.qkd.kme.sync import SyncBatch

__all__ = ["create_kme_app"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Bad request format"},
    401: {"model": Error, "description": "Unauthorized"},
    503: {"model": Error, "description": "Error on the server side"},
}


def _json(obj: BaseModel) -> JSONResponse:
    return JSONResponse(obj.model_dump(exclude_none=True))


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(Error(message=message, details=details).model_dump(exclude_none=True),
                        status_code=status)  # fmt: skip


def _service(request: Request) -> KmeService:
    svc: KmeService = request.app.state.kme
    return svc


def _caller(request: Request) -> str:
    return _service(request).identify(client_cn(request.scope))


Service = Annotated[KmeService, Depends(_service)]
Caller = Annotated[str, Depends(_caller)]


def _install_handlers(app: FastAPI) -> None:
    async def kme_error(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, KmeError)
        return _error(exc.status, exc.message, exc.details)

    async def invalid(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(400, f"bad request format: {where}: {first.get('msg', 'invalid')}")

    async def http_error(_r: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _error(400, f"bad request: {exc.detail}")

    async def crash(_r: Request, exc: Exception) -> JSONResponse:
        return _error(503, f"error on the server side ({type(exc).__name__})")

    app.add_exception_handler(KmeError, kme_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)


def _openapi_without_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                              description=app.description)  # fmt: skip
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = doc
        return app.openapi_schema

    return schema


def create_kme_app(
    service: KmeService, *, peer_link: Callable[[], HttpPeerLink] | None = None
) -> FastAPI:
    """The KME application for ``service``.

    Parameters
    ----------
    service : KmeService
        The KME (configuration, store).
    peer_link : callable, optional
        Opens the channel to the peer KME when the application starts (inside its event
        loop); it is closed at shutdown.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        link = peer_link() if peer_link is not None else None
        if link is not None:
            service.peer = link
        try:
            yield
        finally:
            if link is not None:
                await link.aclose()

    app = FastAPI(
        title="qlight KME (ETSI GS QKD 014 V1.1.1)",
        version="1.1.1",
        description="Key delivery of the qlight single-photon QKD link.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.kme = service
    _install_handlers(app)
    app.openapi = _openapi_without_422(app)  # type: ignore[method-assign]
    prefix = "/api/v1/keys"

    @app.get(f"{prefix}/{{slave_SAE_ID}}/status", response_model=Status, responses=_ERRORS)
    async def get_status(slave_SAE_ID: str, caller: Caller, svc: Service) -> JSONResponse:
        """Get status (ETSI GS QKD 014, Sec. 5.2)."""
        return _json(svc.status(caller, slave_SAE_ID))

    @app.post(f"{prefix}/{{slave_SAE_ID}}/enc_keys", response_model=KeyContainer,
              responses=_ERRORS)  # fmt: skip
    async def post_enc_keys(
        slave_SAE_ID: str,
        caller: Caller,
        svc: Service,
        body: Annotated[KeyRequest | None, Body()] = None,
    ) -> JSONResponse:
        """Get key (Sec. 5.3), parameters in a Key request object."""
        req = body if body is not None else KeyRequest()
        out = await svc.enc_keys(
            caller, slave_SAE_ID, number=req.number, size=req.size,
            additional_slaves=req.additional_slave_SAE_IDs,
            extension_mandatory=req.extension_mandatory,
        )  # fmt: skip
        return _json(out)

    @app.get(f"{prefix}/{{slave_SAE_ID}}/enc_keys", response_model=KeyContainer,
             responses=_ERRORS)  # fmt: skip
    async def get_enc_keys(
        slave_SAE_ID: str,
        caller: Caller,
        svc: Service,
        number: Annotated[int | None, Query()] = None,
        size: Annotated[int | None, Query()] = None,
    ) -> JSONResponse:
        """Get key (Sec. 5.3), parameters in the query."""
        return _json(await svc.enc_keys(caller, slave_SAE_ID, number=number, size=size))

    @app.post(f"{prefix}/{{master_SAE_ID}}/dec_keys", response_model=KeyContainer,
              responses=_ERRORS)  # fmt: skip
    async def post_dec_keys(
        master_SAE_ID: str,
        caller: Caller,
        svc: Service,
        body: Annotated[KeyIDs, Body()],
    ) -> JSONResponse:
        """Get key with key IDs (Sec. 5.4), IDs in a Key IDs object."""
        return _json(svc.dec_keys(caller, master_SAE_ID, [k.key_ID for k in body.key_IDs]))

    @app.get(f"{prefix}/{{master_SAE_ID}}/dec_keys", response_model=KeyContainer,
             responses=_ERRORS)  # fmt: skip
    async def get_dec_keys(
        master_SAE_ID: str,
        caller: Caller,
        svc: Service,
        key_ID: Annotated[str, Query()],
    ) -> JSONResponse:
        """Get key with key IDs (Sec. 5.4), one ID in the query."""
        return _json(svc.dec_keys(caller, master_SAE_ID, [KeyID(key_ID=key_ID).key_ID]))

    @app.post(SYNC_PATH, include_in_schema=False)
    async def sync_reserve(request: Request, svc: Service, body: SyncBatch) -> JSONResponse:
        """KME-to-KME: the peer spent chunks for keys our slaves will fetch."""
        svc.apply_sync(client_cn(request.scope), body)
        return JSONResponse({"ok": True})

    return app
