"""The shared uvicorn server and listening socket (``qlight.api._uvicorn``)."""

from __future__ import annotations

import re
import signal
import socket

import pytest
import uvicorn

from qlight.api._uvicorn import Server, listen
from qlight.errors import ConfigurationError


async def _app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError


def test_listen_queues_connections_before_serving() -> None:
    sock = listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.get_inheritable()
        # Listening already: a client connects (queued in the backlog) with no server yet.
        with socket.create_connection(("127.0.0.1", port), timeout=2.0):
            pass
    finally:
        sock.close()


def test_listen_errors_are_one_line() -> None:
    taken = listen("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port} "):
            listen("127.0.0.1", port)
    finally:
        taken.close()
    with pytest.raises(
        ConfigurationError, match=re.escape("host 'no-such-host.invalid': cannot resolve")
    ):
        listen("no-such-host.invalid", 0)


def test_signal_handling_is_the_owners_choice() -> None:
    config = uvicorn.Config(_app)
    before = signal.getsignal(signal.SIGTERM)
    owner = Server(config, handle_signals=False)
    with owner.capture_signals():
        assert signal.getsignal(signal.SIGTERM) is before  # left to the owner
    server = Server(config, handle_signals=True)
    with server.capture_signals():
        assert signal.getsignal(signal.SIGTERM) == server.handle_exit
        assert signal.getsignal(signal.SIGINT) == server.handle_exit
        signal.raise_signal(signal.SIGTERM)  # asks for a clean exit, is not re-raised
        assert server.should_exit
    assert signal.getsignal(signal.SIGTERM) is before
