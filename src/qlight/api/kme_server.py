"""Serving KMEs: uvicorn over mutual TLS, one or several servers in one event loop.

:func:`build_kme` turns a :class:`~qlight.qkd.kme.config.KmeConfig` into the service, its
FastAPI application and a uvicorn server that uses :mod:`qlight.api.kme_tls` (TLS ≥ 1.2,
``CERT_REQUIRED``, the configured CA, the client certificate in the ASGI scope). The
listening socket is bound before the server starts, so port 0 works and the real port is
known (:attr:`RunningKme.port`). :class:`KmeThread` runs servers in a background thread with
its own event loop (tests, ``qlight kme demo``); :func:`serve_forever` runs them in the main
thread until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

from qlight.api._uvicorn import Server, listen
from qlight.api.kme_app import create_kme_app
from qlight.api.kme_peer import HttpPeerLink
from qlight.api.kme_tls import TlsHttpToolsProtocol, client_ssl_context, server_ssl_context
from qlight.errors import ConfigurationError
from qlight.qkd.kme.config import KmeConfig
from qlight.qkd.kme.service import KmeService, open_store

__all__ = ["KmeThread", "RunningKme", "bind_socket", "build_kme", "serve_forever"]


@dataclass
class RunningKme:
    """One KME ready to serve: its service, server and bound socket."""

    config: KmeConfig
    service: KmeService
    server: uvicorn.Server
    sock: socket.socket

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL (``https://host:port``)."""
        return f"https://{self.config.host}:{self.port}"


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: a free port), for :func:`build_kme`.

    The shared :func:`qlight.api._uvicorn.listen` (``TCP_NODELAY`` set, errors as one
    :class:`~qlight.errors.ConfigurationError` line).
    """
    return listen(host, port)


def build_kme(
    config: KmeConfig,
    *,
    service: KmeService | None = None,
    sock: socket.socket | None = None,
    log_level: str = "warning",
) -> RunningKme:
    """Service, application and uvicorn server of ``config`` (nothing runs yet).

    ``service`` defaults to one on :func:`~qlight.qkd.kme.service.open_store`; ``sock`` to
    a socket bound to ``config.host:config.port``.
    """
    tls = config.tls
    for name in ("ca", "cert", "key"):
        if not getattr(tls, name).is_file():
            raise ConfigurationError(f"tls.{name}: {getattr(tls, name)} does not exist")
    try:
        ctx = server_ssl_context(tls.ca, tls.cert, tls.key)
        client_ctx = client_ssl_context(tls.ca, tls.cert, tls.key)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigurationError(f"tls: cannot load the certificates ({exc})") from None
    svc = service if service is not None else KmeService(config, open_store(config))
    peer = config.peer
    factory = None
    if peer is not None and peer.url:
        url = peer.url
        timeout = config.peer_timeout_s
        factory = lambda: HttpPeerLink(url, client_ctx, timeout)  # noqa: E731
    app = create_kme_app(svc, peer_link=factory)
    s = sock if sock is not None else bind_socket(config.host, config.port)
    uc = uvicorn.Config(
        app,
        http=TlsHttpToolsProtocol,
        ssl_context_factory=lambda _cfg, _default: ctx,
        log_level=log_level,
        access_log=False,  # request lines are harmless, but keep key traffic out of logs
        lifespan="on",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    return RunningKme(config, svc, Server(uc, handle_signals=False), s)


def _run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` on uvloop when it is installed (uvicorn[standard]), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())


async def _serve_all(kmes: Sequence[RunningKme]) -> None:
    await asyncio.gather(*(k.server.serve(sockets=[k.sock]) for k in kmes))


def _stop(kmes: Sequence[RunningKme]) -> None:
    for k in kmes:
        k.server.should_exit = True


class KmeThread:
    """Runs KMEs in a background thread with its own event loop.

    ``start()`` returns once every server accepts connections (or raises after
    ``timeout_s``); ``stop()`` shuts them down and closes their stores.
    """

    def __init__(self, kmes: Sequence[RunningKme]) -> None:
        self.kmes = list(kmes)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            _run_loop(lambda: _serve_all(self.kmes))
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self, timeout_s: float = 30.0) -> None:
        """Start serving; wait until all servers have started."""
        self._thread = threading.Thread(target=self._run, name="kme-servers", daemon=True)
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout_s / 0.02)):
            if all(k.server.started for k in self.kmes) or self._error is not None:
                break
            waited.wait(0.02)
        if self._error is not None or not all(k.server.started for k in self.kmes):
            self.stop()
            raise ConfigurationError(f"the KME servers did not start ({self._error!r})")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the servers down, wait for the thread, close the stores."""
        _stop(self.kmes)
        if self._thread is not None:
            self._thread.join(min(2.0, timeout_s))
            if self._thread.is_alive():  # a client holds a connection open: close it
                for k in self.kmes:
                    k.server.force_exit = True
                self._thread.join(timeout_s)
            self._thread = None
        for k in self.kmes:
            k.sock.close()
            k.service.store.close()


def serve_forever(
    kmes: Sequence[RunningKme],
    *,
    on_started: Callable[[], None] | None = None,
    before_close: Callable[[], None] | None = None,
) -> None:
    """Serve in this (main) thread until SIGINT or SIGTERM, then shut down cleanly.

    ``on_started`` runs once every server accepts connections; ``before_close`` after the
    servers stopped and before the stores are closed (the demo stops its feeder there).
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop, kmes)
        task = asyncio.ensure_future(_serve_all(kmes))
        while not task.done() and not all(k.server.started for k in kmes):
            await asyncio.sleep(0.02)
        if on_started is not None and all(k.server.started for k in kmes):
            on_started()
        await task

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    try:
        _run_loop(main)
    finally:
        if before_close is not None:
            before_close()
        for k in kmes:
            k.sock.close()
            k.service.store.close()
