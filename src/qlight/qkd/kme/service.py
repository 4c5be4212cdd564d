"""The key management entity: ETSI GS QKD 014 V1.1.1 (2019) key delivery without HTTP.

:class:`KmeService` implements Get status (Sec. 5.2), Get key (5.3) and Get key with key
IDs (5.4) on a :class:`~qlight.qkd.kme.store.KmeStore`, plus the receiving end of the
KME-to-KME sync (:mod:`qlight.qkd.kme.sync`). The HTTP layer (:mod:`qlight.api.kme_app`)
identifies the caller from its client certificate and maps
:class:`~qlight.qkd.kme.errors.KmeError` to 400/401/503.
"""

from __future__ import annotations

import asyncio
import base64
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qlight.qkd.kme.config import KmeConfig
from qlight.qkd.kme.errors import (
    BadRequestError,
    KmeError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from qlight.qkd.kme.models import Key, KeyContainer, Status
from qlight.qkd.kme.rules import (
    ValidRequest,
    check_dec_request,
    check_enc_request,
    check_key_ids,
    check_slave,
    identify,
)
from qlight.qkd.kme.store import Chunk, KmeStore, PlannedKey, assemble
from qlight.qkd.kme.sync import PeerLink, SyncBatch, SyncReserve, plan_of, sync_message

__all__ = ["KmeService", "open_store"]


def open_store(config: KmeConfig) -> KmeStore:
    """The store a configuration names (chunks of the default key size)."""
    return KmeStore(
        config.store_path,
        chunk_bytes=config.keys.default_size // 8,
        max_chunks=config.keys.max_key_count,
        synchronous=config.store_synchronous,
    )


def _container(keys: Sequence[tuple[str, bytes]]) -> KeyContainer:
    return KeyContainer(
        keys=[Key(key_ID=kid, key=base64.b64encode(m).decode("ascii")) for kid, m in keys]
    )


@dataclass
class _Pending:
    """An accepted enc_keys request waiting for its batch."""

    master: str
    req: ValidRequest
    remote: list[str]  # slaves served by the peer KME
    local: list[str]  # slaves served here
    future: asyncio.Future[KeyContainer]


def _fail(p: _Pending, exc: BaseException) -> None:
    if not p.future.done():
        p.future.set_exception(exc)


def _cut(
    chunks: Sequence[Chunk], number: int, per_key: int, size_bits: int
) -> tuple[list[PlannedKey], list[tuple[str, bytes]]]:
    """Cut ``number`` keys of ``size_bits`` from consecutive chunks, each under a new UUID."""
    plan: list[PlannedKey] = []
    keys: list[tuple[str, bytes]] = []
    for i in range(number):
        part = chunks[i * per_key : (i + 1) * per_key]
        kid = str(uuid.uuid4())
        plan.append(PlannedKey(kid, size_bits, tuple(c.chunk_id for c in part)))
        keys.append((kid, assemble([c.material for c in part], size_bits)))
    return plan, keys


class KmeService:
    """One KME (see the module docstring).

    Parameters
    ----------
    config : KmeConfig
        Identity, SAE map, sizes, peer.
    store : KmeStore
        This KME's key store.
    peer : PeerLink, optional
        Channel to the peer KME (needed when a slave SAE is served by the peer).
    """

    def __init__(self, config: KmeConfig, store: KmeStore, peer: PeerLink | None = None) -> None:
        self.config = config
        self.store = store
        self.peer = peer
        self._chunk_bits = 8 * store.chunk_bytes
        self._queue: list[_Pending] = []
        self._drainer: asyncio.Task[None] | None = None
        self._discards: list[str] = []  # chunks spent on local-only keys, for the peer

    def identify(self, cn: str | None) -> str:
        """The SAE ID of a client-certificate CN (401 if unknown)."""
        return identify(self.config, cn)

    def _chunks_per_key(self, size_bits: int) -> int:
        return math.ceil(size_bits / self._chunk_bits)

    def status(self, master: str, slave: str) -> Status:
        """Get status (Sec. 5.2): the pool the master may draw on for keys shared with ``slave``."""
        check_slave(self.config, master, slave)
        k = self.config.keys
        owned = self.store.pool_count(self.config.kme_id)
        target = self.config.kme_of(slave)
        assert target is not None  # check_slave
        return Status(
            source_KME_ID=self.config.kme_id,
            target_KME_ID=target,
            master_SAE_ID=master,
            slave_SAE_ID=slave,
            key_size=k.default_size,
            stored_key_count=owned // self._chunks_per_key(k.default_size),
            max_key_count=k.max_key_count,
            max_key_per_request=k.max_key_per_request,
            max_key_size=k.max_size,
            min_key_size=k.min_size,
            max_SAE_ID_count=k.max_SAE_ID_count,
        )

    async def enc_keys(
        self,
        master: str,
        slave: str,
        *,
        number: int | None = None,
        size: int | None = None,
        additional_slaves: Sequence[str] | None = None,
        extension_mandatory: Sequence[dict[str, Any]] | None = None,
    ) -> KeyContainer:
        """Get key (Sec. 5.3): new keys for ``master``, fetchable once by each slave.

        Concurrent calls (in one event loop) are issued in batches by one task: one store
        transaction and one peer round trip per batch, while later calls queue for the next
        batch (group commit; see :mod:`qlight.qkd.kme.sync`).
        """
        req = check_enc_request(
            self.config, master, slave, number=number, size=size,
            additional_slaves=additional_slaves, extension_mandatory=extension_mandatory,
        )  # fmt: skip
        peer_saes = self.config.peer_saes  # a property: a new frozenset on every access
        remote = [s for s in req.slaves if s in peer_saes]
        local = [s for s in req.slaves if s not in peer_saes]
        if remote and self.peer is None:
            raise ServiceUnavailableError("the peer KME is not connected")
        future: asyncio.Future[KeyContainer] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(master, req, remote, local, future))
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Issue queued requests batch by batch until the queue is empty."""
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._issue(batch)
        finally:
            self._drainer = None
            for p in self._queue:  # only if the task was cancelled (shutdown)
                _fail(p, ServiceUnavailableError("the KME is shutting down"))
            self._queue = []

    async def _issue(self, batch: list[_Pending]) -> None:
        """Claim chunks for a batch (one transaction), sync the peer (one round trip),
        store grants for local slaves (one transaction), and answer every request."""
        done: list[tuple[_Pending, list[tuple[str, bytes]]]] = []
        try:
            per_key = [self._chunks_per_key(p.req.size_bits) for p in batch]
            claims = self.store.claim_many(
                self.config.kme_id, [p.req.number * k for p, k in zip(batch, per_key, strict=True)]
            )
            reservations: list[SyncReserve] = []
            for p, k, chunks in zip(batch, per_key, claims, strict=True):
                if chunks is None:
                    _fail(p, ServiceUnavailableError(
                        f"not enough key material for {p.req.number} keys of {p.req.size_bits} bits"
                    ))  # fmt: skip
                    continue
                plan, keys = _cut(chunks, p.req.number, k, p.req.size_bits)
                done.append((p, keys))
                if p.remote:
                    reservations.append(sync_message(self.config.kme_id, p.master, p.remote, plan))
                elif self.config.peer is not None:
                    self._discards += [c for pk in plan for c in pk.chunk_ids]
            # Claimed chunks are spent whatever happens next: if the sync fails they are
            # discarded rather than put back, since the peer may have spent them already (a
            # lost reply); putting them back could make both sides cut different keys later.
            if reservations:
                assert self.peer is not None
                discards, self._discards = self._discards, []
                await self.peer.reserve(SyncBatch(kme_id=self.config.kme_id,
                    reservations=reservations, discard_chunk_IDs=discards))  # fmt: skip
            self.store.reserve_many([(keys, p.master, p.local) for p, keys in done])
        except BaseException as exc:
            err = exc if isinstance(exc, KmeError) else ServiceUnavailableError(
                f"peer KME sync failed ({type(exc).__name__})"
            )  # fmt: skip
            for p in batch:
                _fail(p, err)
            if not isinstance(exc, Exception):
                raise
            return
        for p, keys in done:
            if not p.future.done():
                p.future.set_result(_container(keys))

    def dec_keys(self, slave: str, master: str, key_ids: Sequence[str]) -> KeyContainer:
        """Get key with key IDs (Sec. 5.4): the slave fetches keys the master was given."""
        check_dec_request(self.config, master)
        ids = check_key_ids(key_ids)
        if len(ids) > self.config.keys.max_key_per_request:
            raise BadRequestError(
                f"{len(ids)} key_IDs exceed max_key_per_request "
                f"({self.config.keys.max_key_per_request})"
            )
        material = self.store.deliver(ids, slave, master)
        return _container(list(zip(ids, material, strict=True)))

    def apply_sync(self, peer_cn: str | None, batch: SyncBatch) -> None:
        """Receive a sync batch from the peer KME (authenticated by its certificate CN)."""
        peer = self.config.peer
        if peer is None or peer_cn != peer.cn or batch.kme_id != peer.kme_id:
            raise UnauthorizedError("not the peer KME")
        peer_saes, served = self.config.peer_saes, self.config.served_saes  # built once
        items = []
        ids: list[str] = []
        for m in batch.reservations:
            if m.kme_id != peer.kme_id:
                raise UnauthorizedError("not the peer KME")
            if m.master_SAE_ID not in peer_saes:
                raise BadRequestError(f"master {m.master_SAE_ID!r} is not served by the peer KME")
            for s in m.slave_SAE_IDs:
                if s not in served:
                    raise BadRequestError(f"slave {s!r} is not served by this KME")
            ids += check_key_ids([k.key_ID for k in m.keys])
            items.append((plan_of(m), peer.kme_id, m.master_SAE_ID, m.slave_SAE_IDs))
        if len(set(ids)) != len(ids):
            raise BadRequestError("a key_ID is repeated")
        self.store.reserve_from_pool_many(items, discard=(peer.kme_id, batch.discard_chunk_IDs))
