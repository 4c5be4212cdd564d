"""SCPI over TCP (raw socket, port 5025): the device as a rack instrument for PyVISA.

One thread accepts connections; each client gets its own thread and its own
:class:`~qlight.api.scpi_commands.ScpiSession` (error queue, event status register). Program
messages end with ``\\n`` (``\\r\\n`` is accepted), as PyVISA's ``TCPIP::host::port::SOCKET``
resources send them with ``write_termination="\\n"``; responses end with ``\\n``. Garbage,
over-long lines, non-ASCII bytes and unknown commands become errors in the client's queue and
never stop the server or another client (LXI Device Specification 2022 §10.2 for the raw
socket port 5025; SCPI-99 for the language, see :mod:`qlight.api.scpi_commands`).

The command set, error codes and a PyVISA example are in ``docs/scpi.md``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from qlight.api.scpi_commands import MAX_LINE_BYTES, ScpiSession
from qlight.device.service_types import DeviceService
from qlight.errors import ParameterError

__all__ = ["MAX_CLIENTS", "ScpiServerHandle", "start_scpi_server"]

MAX_CLIENTS = 32
"""Concurrent connections; a further client is accepted and closed at once."""
_RECV_BYTES = 4096


@dataclass
class ScpiServerHandle:
    """A running SCPI server: its address and how to stop it.

    Attributes
    ----------
    host : str
        The address it listens on.
    port : int
        The actual TCP port (the one the OS chose when asked for port 0).
    """

    host: str
    port: int
    _listener: socket.socket = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _clients: set[socket.socket] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: threading.Event = field(default_factory=threading.Event, repr=False)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, disconnect every client and join the accept thread (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()
        self._thread.join(timeout_s)

    @property
    def n_clients(self) -> int:
        """Number of connected clients."""
        with self._lock:
            return len(self._clients)

    def __enter__(self) -> ScpiServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_scpi_server(service: DeviceService, host: str = "127.0.0.1",
                      port: int = 5025) -> ScpiServerHandle:  # fmt: skip
    """Serve SCPI for ``service`` on ``host:port`` in background threads.

    Parameters
    ----------
    service : DeviceService
        The running device.
    host : str
        Address to bind (``127.0.0.1`` by default: loopback only).
    port : int
        TCP port; ``0`` lets the OS choose (read it back from ``handle.port``).

    Returns
    -------
    ScpiServerHandle
        ``.port`` is the bound port, ``.close()`` stops the server.

    Raises
    ------
    ParameterError
        ``port`` outside 0..65535 or the address cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise ParameterError("port", port, "must be in 0..65535")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as e:
        listener.close()
        raise ParameterError("port", port, f"cannot be bound on {host}: {e.strerror}") from e
    listener.listen(16)
    handle = ScpiServerHandle(
        host=host,
        port=int(listener.getsockname()[1]),
        _listener=listener,
        _thread=threading.Thread(target=lambda: None),
    )
    handle._thread = threading.Thread(
        target=_accept_loop, args=(handle, service), name="qlight-scpi-accept", daemon=True
    )
    handle._thread.start()
    return handle


def _accept_loop(handle: ScpiServerHandle, service: DeviceService) -> None:
    while not handle._closed.is_set():
        try:
            conn, _ = handle._listener.accept()
        except OSError:
            return  # listener closed
        with handle._lock:
            full = len(handle._clients) >= MAX_CLIENTS
            if not full:
                handle._clients.add(conn)
        if full:
            conn.close()
            continue
        threading.Thread(
            target=_serve_client,
            args=(handle, conn, ScpiSession(service)),
            name="qlight-scpi-client",
            daemon=True,
        ).start()


def _serve_client(handle: ScpiServerHandle, conn: socket.socket, session: ScpiSession) -> None:
    """Read lines, answer queries; an over-long line is dropped up to its ``\\n`` (-363)."""
    buf = bytearray()
    overflow = 0  # bytes of the current over-long line dropped so far
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not handle._closed.is_set():
            data = conn.recv(_RECV_BYTES)
            if not data:
                return
            buf += data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_LINE_BYTES:
                        overflow += len(buf)
                        buf.clear()
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if overflow:
                    n = overflow + len(line)
                    session.push_error(-363, f"line of {n} bytes > {MAX_LINE_BYTES}")
                    overflow = 0
                    continue
                reply = _safe_handle(session, line)
                if reply is not None:
                    conn.sendall(reply.encode("ascii", "replace") + b"\n")
    except OSError:
        return
    finally:
        with handle._lock:
            handle._clients.discard(conn)
        with contextlib.suppress(OSError):
            conn.close()


def _safe_handle(session: ScpiSession, line: bytes) -> str | None:
    try:
        return session.handle_line(line)
    except Exception as e:  # a bug or a failing service must not end the connection
        session.push_error(-200, f"{type(e).__name__}"[:60])
        return None
