"""The uvicorn server and listening socket shared by ``qlight run`` and the KME servers.

Both bind their socket *before* uvicorn starts (port 0 = a free port chosen by the OS, and
the real port is known at once) and both own the shutdown instead of stock uvicorn:

* :func:`listen` resolves, binds and listens (connections queue in the backlog until
  uvicorn serves them), with ``TCP_NODELAY`` (asyncio sets it only on ``IPPROTO_TCP``
  sockets; without it Nagle's algorithm and delayed ACKs add ~40 ms to every response
  written in two parts);
* :class:`Server` never re-raises the captured signal after a clean shutdown. With
  ``handle_signals=True`` (``qlight run``) SIGINT/SIGTERM in the main thread ask it to
  exit — the clean shutdown *is* the handling, the process exits 0; with ``False`` (the
  KMEs, several servers in one loop) signals are left to the owner.

What is served (HTTP protocol class, TLS context) stays in the ``uvicorn.Config`` each
caller builds: the KME's mutual-TLS protocol (:mod:`qlight.api.kme_tls`) is passed there.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn

from qlight.errors import ConfigurationError

__all__ = ["Server", "listen"]

_BACKLOG = 2048


class Server(uvicorn.Server):
    """uvicorn's server that does not re-raise the captured signal after shutdown.

    Parameters
    ----------
    config : uvicorn.Config
        What to serve and how.
    handle_signals : bool
        True: SIGINT/SIGTERM received by the main thread ask the server to exit (a second
        SIGINT forces it, as in uvicorn); False: signal handling is left to the owner.
    """

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install the exit handlers for the duration of ``serve`` (see the class doc)."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free port) and listening.

    Raises
    ------
    qlight.errors.ConfigurationError
        ``host 'x': cannot resolve (…)`` or ``cannot listen on host:port (…)`` (e.g. the
        port is in use).
    """
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigurationError(f"host {host!r}: cannot resolve ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(addr)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock
