"""Helpers of the KME tests: stores, chunks, a linked pair of services, TLS servers."""

from __future__ import annotations

import secrets
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from qlight.api.kme_server import KmeThread, RunningKme, bind_socket, build_kme
from qlight.qkd.kme.pair import PairSetup, write_pair_setup
from qlight.qkd.kme.service import KmeService, open_store
from qlight.qkd.kme.sync import SyncBatch


def chunks(n: int, size: int = 32) -> list[tuple[str, bytes]]:
    """``n`` random chunks with fresh UUIDs."""
    return [(str(uuid.uuid4()), secrets.token_bytes(size)) for _ in range(n)]


def fill(services: tuple[KmeService, KmeService], n_each: int) -> None:
    """Put ``n_each`` chunks owned by each KME into both stores (identical pools)."""
    a, b = services
    own_a, own_b = chunks(n_each), chunks(n_each)
    for s in (a, b):
        s.store.put_chunks(own_a, a.config.kme_id)
        s.store.put_chunks(own_b, b.config.kme_id)


class DirectPeer:
    """A PeerLink calling the other service in-process (and recording the messages)."""

    def __init__(self, other: KmeService, cn: str) -> None:
        self.other = other
        self.cn = cn
        self.sent: list[SyncBatch] = []

    async def reserve(self, message: SyncBatch) -> None:
        self.sent.append(message)
        self.other.apply_sync(self.cn, message)


def linked_services(folder: Path) -> tuple[KmeService, KmeService, PairSetup]:
    """Two services on the demo configuration, linked in-process (no HTTP)."""
    setup = write_pair_setup(folder, 1, 2, synchronous="NORMAL")
    a = KmeService(setup.config_a, open_store(setup.config_a))
    b = KmeService(setup.config_b, open_store(setup.config_b))
    a.peer = DirectPeer(b, "kme-a")
    b.peer = DirectPeer(a, "kme-b")
    return a, b, setup


@dataclass
class Pair:
    """A running pair of KMEs over real mutual TLS."""

    setup: PairSetup
    a: RunningKme
    b: RunningKme

    @property
    def folder(self) -> Path:
        return self.setup.folder

    def ssl(self, name: str, ca: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ca or self.folder / "ca.pem"))
        ctx.load_cert_chain(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        return ctx

    def client(self, name: str, **kw: object) -> httpx.Client:
        return httpx.Client(verify=self.ssl(name), timeout=10.0, **kw)  # type: ignore[arg-type]


@contextmanager
def running_pair(folder: Path, n_each: int = 0, synchronous: str = "NORMAL") -> Iterator[Pair]:
    """Start both KMEs of ``write_pair_setup(folder)`` on free ports; stop them at the end."""
    sa, sb = bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)
    setup = write_pair_setup(
        folder, sa.getsockname()[1], sb.getsockname()[1], synchronous=synchronous
    )
    ka, kb = build_kme(setup.config_a, sock=sa), build_kme(setup.config_b, sock=sb)
    if n_each:
        fill((ka.service, kb.service), n_each)
    thread = KmeThread([ka, kb])
    thread.start(timeout_s=30.0)
    try:
        yield Pair(setup, ka, kb)
    finally:
        thread.stop(timeout_s=30.0)
