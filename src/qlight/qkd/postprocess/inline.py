"""Run both parties of a protocol in ONE thread, cooperatively, over the in-process channel.

:func:`~qlight.qkd.postprocess.channel.run_two_party` gives each party an OS thread; every
round trip then costs two thread wake-ups and GIL hand-overs (≈ 0.1–0.5 ms on a loaded
2-core machine), which dominated Cascade's wall time. Here Alice's side is a *generator*
that yields whenever it is about to wait for a message; Bob's side is an ordinary function.
Bob's end of the channel is wrapped so that, when Bob waits for a frame that has not arrived,
Alice's generator is resumed until she has answered. The parties still share nothing but
the authenticated channel: every message is encoded, authenticated, sent as bytes through
the in-process transport and decoded, and the ledgers count exactly what was sent — only
the scheduling differs (one core, no thread switches).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Generator
from typing import TypeVar

from qlight.qkd.postprocess.channel import AuthenticatedChannel, Transport
from qlight.qkd.postprocess.errors import ProtocolAbort

__all__ = ["AliceSteps", "run_inline"]

A = TypeVar("A")
B = TypeVar("B")

#: Alice's side as a generator: it yields (``None``) right before each ``channel.recv()``
#: and returns her result.
AliceSteps = Generator[None, None, A]


class _Pumped:
    """Bob's transport: an empty inbox resumes Alice instead of blocking."""

    def __init__(
        self, inner: Transport, inbox: queue.SimpleQueue[bytes], pump: Callable[[], bool]
    ) -> None:
        self.inner = inner
        self.inbox = inbox
        self.pump = pump

    def send_frame(self, data: bytes) -> None:
        self.inner.send_frame(data)

    def recv_frame(self, timeout_s: float) -> bytes:
        while self.inbox.empty():
            if not self.pump():
                raise ProtocolAbort("bob waits for a message alice will never send")
        return self.inner.recv_frame(timeout_s)

    def close(self) -> None:
        self.inner.close()


def run_inline(
    alice: AliceSteps[A],
    bob: Callable[[], B],
    channels: tuple[AuthenticatedChannel, AuthenticatedChannel],
) -> tuple[A, B]:
    """Run Alice's generator and Bob's function in this thread; return both results.

    Both channel ends must use the in-process transport
    (:func:`~qlight.qkd.postprocess.channel.channel_pair` with ``"inprocess"``). A failure
    on either side is raised here; neither result is returned unless both finished.
    """
    ca, cb = channels
    inbox_a = getattr(ca.transport, "_in", None)
    inbox_b = getattr(cb.transport, "_in", None)
    if not isinstance(inbox_a, queue.SimpleQueue) or not isinstance(inbox_b, queue.SimpleQueue):
        raise ProtocolAbort("inline runs need the in-process transport on both ends")
    done: list[A] = []

    def step() -> bool:
        """Resume Alice once; False when she can make no progress."""
        if done:
            return False
        try:
            next(alice)
        except StopIteration as stop:
            done.append(stop.value)
            return True
        return True

    step()  # Alice's opening messages, up to her first wait
    bob_transport = cb.transport

    def pump() -> bool:
        if done or inbox_a.empty():
            return False
        return step()

    cb.transport = _Pumped(bob_transport, inbox_b, pump)
    try:
        result_b = bob()
        while not done:
            if inbox_a.empty():
                raise ProtocolAbort("alice waits for a message bob will never send")
            step()
    finally:
        cb.transport = bob_transport
        alice.close()
    return done[0], result_b
