"""One process serving the device: the state machine, the FastAPI app (uvicorn) and SCPI.

:class:`DeviceServer` is what ``qlight run`` drives:

1. :meth:`DeviceServer.open` resolves the API token (:mod:`qlight.api.auth`), builds the app
   around a :class:`~qlight.api.booting.BootingService` (the device as seen while its
   software loads), binds and *listens on* the HTTP socket (port 0 = a free port chosen by
   the OS) and starts the SCPI server. From this moment connections queue in the socket's
   backlog, so the URLs can be printed and clients may connect at once;
2. :meth:`DeviceServer.serve` runs uvicorn until SIGINT/SIGTERM while a loader thread builds
   the device through the composition root (``qlight.device.service.create_device``, whose
   imports take seconds), starts it (power-on runs in the device's own thread) and hands the
   interfaces over to it. Until then ``GET /device`` answers ``POWER_ON`` ("loading the
   device software") and commands are refused with 409; if loading fails the state is
   ``FAULT`` with the reason, the server shuts down and :meth:`serve` returns 2;
3. on a signal uvicorn finishes the requests in flight, then the SCPI server is closed and
   the device stopped (``service.stop()``), in that order, and :meth:`serve` returns 0.

Unlike stock uvicorn, the captured signal is not re-raised after shutdown: the clean shutdown
*is* the handling of SIGTERM, and the process exits with status 0. A second SIGINT forces
the exit of uvicorn (connections are dropped) but the device is still stopped.
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from qlight.api._uvicorn import Server, listen
from qlight.api.app import API_PREFIX, create_app
from qlight.api.auth import ApiToken, resolve_api_token
from qlight.api.booting import BootingService
from qlight.api.scpi import ScpiServerHandle, start_scpi_server
from qlight.device.service_types import DeviceService
from qlight.device.settings import DeviceSettings
from qlight.errors import ConfigurationError, QlightError

__all__ = ["DeviceServer", "ServerInfo"]


@dataclass(frozen=True)
class ServerInfo:
    """Where the running service can be reached (``qlight run`` prints it)."""

    host: str
    port: int
    scpi_port: int
    token: ApiToken
    data_dir: Path

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able description (the token value included: it is printed on purpose)."""
        base = self.base_url
        return {
            "dashboard_url": f"{base}/",
            "api_url": f"{base}{API_PREFIX}",
            "docs_url": f"{base}/docs",
            "metrics_url": f"{base}/metrics",
            "ws_url": f"{base.replace('http://', 'ws://', 1)}{API_PREFIX}/stream",
            "host": self.host,
            "port": self.port,
            "scpi_port": self.scpi_port,
            "scpi_resource": f"TCPIP::{self.host}::{self.scpi_port}::SOCKET",
            "api_token": self.token.value,
            "api_token_source": self.token.source,
            "api_token_file": None if self.token.path is None else str(self.token.path),
            "data_dir": str(self.data_dir),
        }


def _start_scpi(service: DeviceService, host: str, port: int) -> ScpiServerHandle:
    try:
        return start_scpi_server(service, host, port)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen for SCPI on {host}:{port} ({exc})") from None


class DeviceServer:
    """The device, its app and its SCPI server in one process (see the module docstring).

    Parameters
    ----------
    settings : DeviceSettings
        Validated settings (``qlight.device.settings.load_settings``).
    factory : callable, optional
        ``factory(settings) -> DeviceService``; by default the composition root
        ``qlight.device.service.create_device`` (imported when the device loads). Tests pass
        the fake device here.
    """

    def __init__(
        self,
        settings: DeviceSettings,
        *,
        factory: Callable[[DeviceSettings], DeviceService] | None = None,
    ) -> None:
        self.settings = settings
        self._factory = factory
        self._booting = BootingService(settings.serial, settings.twin.pace)
        self._loader: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._scpi: ScpiServerHandle | None = None
        self._server: Server | None = None
        self.app: FastAPI | None = None
        self.info: ServerInfo | None = None
        #: Why loading the device failed (then :meth:`serve` returns 2), else None.
        self.error: str | None = None

    @property
    def service(self) -> DeviceService:
        """What the interfaces see: the loading stand-in, then the device itself."""
        return self._booting

    def open(self) -> ServerInfo:
        """Resolve the token, build the app and listen (HTTP and SCPI); no device yet.

        Raises
        ------
        ConfigurationError
            Bad token, port in use, unresolvable host.
        """
        s = self.settings
        configured = s.api_token.get_secret_value() if s.api_token is not None else None
        token = resolve_api_token(s.data_dir, configured)
        try:
            self._sock = listen(s.host, s.port)
            self.app = create_app(self._booting, api_token=token.value)
            self._scpi = _start_scpi(self._booting, s.host, s.scpi_port)
        except BaseException:
            self.close()
            raise
        port = int(self._sock.getsockname()[1])
        self.info = ServerInfo(s.host, port, int(self._scpi.port), token, s.data_dir)
        return self.info

    def _load(self) -> None:
        """Build and start the device (loader thread); on failure report FAULT and exit."""
        try:
            factory = self._factory
            if factory is None:
                # Imported here, after the sockets listen: seconds of numba/twin imports.
                from qlight.device.service import create_device

                factory = create_device
            device = factory(self.settings)
            if not self._booting.attach(device):
                device.stop()  # the server stopped while the device was loading
        except Exception as exc:
            if not isinstance(exc, QlightError):
                traceback.print_exc()
            self.error = " ".join((str(exc) or type(exc).__name__).split())
            self._booting.fail(self.error)
            self.request_exit()

    def serve(self) -> int:
        """Load and start the device, serve until SIGINT/SIGTERM; return the exit status.

        Returns 0 after a clean shutdown, 2 when the device could not be built
        (:attr:`error` says why).
        """
        if self.app is None or self._sock is None:
            raise RuntimeError("DeviceServer.open() has not run")
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        self._server = Server(config, handle_signals=True)
        self._loader = threading.Thread(target=self._load, name="qlight-device-loader")
        try:
            self._loader.start()
            self._server.run(sockets=[self._sock])
        finally:
            self.close()
        return 2 if self.error is not None else 0

    def request_exit(self) -> None:
        """Ask the running server to shut down (as SIGTERM does)."""
        if self._server is not None:
            self._server.should_exit = True

    def close(self, timeout_s: float = 60.0) -> None:
        """Close SCPI, stop the device, release the socket (idempotent)."""
        if self._scpi is not None:
            scpi, self._scpi = self._scpi, None
            scpi.close()
        self._booting.stop()
        if self._loader is not None and self._loader is not threading.current_thread():
            self._loader.join(timeout_s)  # a device still loading is stopped by _load
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()
