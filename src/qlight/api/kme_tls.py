"""Mutual TLS for the KME: the server's SSL context, and the client certificate in the ASGI scope.

uvicorn verifies client certificates (``ssl.CERT_REQUIRED`` against the configured CA) but
does not pass the verified certificate to the application. We checked the alternatives:
hypercorn does not fill the ASGI TLS extension either, and a middleware cannot reach the
transport. So :class:`TlsHttpToolsProtocol` / :class:`TlsH11Protocol` subclass uvicorn's HTTP
protocols: when a connection is made they read the peer certificate from the TLS transport
(``transport.get_extra_info("ssl_object").getpeercert(binary_form=True)``) once, and wrap
the connection's ASGI application so that every request scope on that connection carries the
standard ASGI TLS extension (``scope["extensions"]["tls"]``: ``client_cert_chain`` [PEM],
``client_cert_name`` [RFC 4514], ``tls_version``; ASGI spec, "TLS Extension"). The
application reads the subject CN from there (:func:`client_cn`). A connection without a
verified certificate never gets this far: the handshake fails.

The hook relies on uvicorn reading ``self.app`` per request (true for uvicorn 0.2x-0.5x,
both protocol implementations); the integration tests would catch a change.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TlsH11Protocol", "TlsHttpToolsProtocol", "client_cn", "server_ssl_context"]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_ssl_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS ≥ 1.2 server context that requires a client certificate signed by ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(ca))
    ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return ctx


def client_ssl_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS ≥ 1.2 client context presenting ``cert`` and trusting only ``ca``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return ctx


def _tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    sslobj = transport.get_extra_info("ssl_object")
    if sslobj is None:
        return None
    der = sslobj.getpeercert(binary_form=True)
    if der is None:
        return None
    name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)],
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(str(sslobj.version())),
        "cipher_suite": None,
    }


class _WithTls:
    """ASGI wrapper adding one connection's TLS extension to each scope."""

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        ext = dict(scope.get("extensions") or {})
        ext["tls"] = self.tls
        scope["extensions"] = ext
        await self.app(scope, receive, send)


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the client certificate in the scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = _tls_extension(transport)
        if tls is not None:
            self.app = _WithTls(self.app, tls)


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the client certificate in the scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = _tls_extension(transport)
        if tls is not None:
            self.app = _WithTls(self.app, tls)


@functools.lru_cache(maxsize=1024)
def _cn_of_pem(pem: str) -> str | None:
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def client_cn(scope: Any) -> str | None:
    """Subject CN of the verified client certificate of this request, or ``None``."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls:
        return None
    chain = tls.get("client_cert_chain") or []
    return _cn_of_pem(chain[0]) if chain else None
