"""The KME-to-KME sync message: which pool chunks became which key IDs, for which slaves.

When a master SAE's ``enc_keys`` request names a slave served by the peer KME, the master's
KME spends chunks it *owns* from its pool, cuts the keys, and sends one
:class:`SyncReserve` to the peer over their own mutually authenticated TLS channel (KME
certificates from the same CA; the receiver checks the sender's CN against
``peer.cn``). The peer spends the same chunks from its identical pool, builds the same keys
and keeps them for the named slaves; only then does the master SAE get its keys. Chunk
ownership (fixed by the feeder when it stores a chunk in both pools) means the two KMEs
never spend the same chunk, so no locking across the link is needed.

Concurrent requests are grouped: while one sync round trip is in flight, new requests queue,
and the next round trip carries all of them as one :class:`SyncBatch` (group commit; one
transaction on each side per batch instead of per request). Chunks the sender spent on keys
for its own SAEs only (no peer involved) ride along as ``discard_chunk_IDs``, so the peer's
copy of the pool does not keep them forever.

The message carries chunk IDs and key IDs only, never key material.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from qlight.qkd.kme.store import PlannedKey

__all__ = ["PeerLink", "SyncBatch", "SyncKey", "SyncReserve", "plan_of", "sync_message"]

# ruff: noqa: N815


class SyncKey(BaseModel):
    """One issued key: its UUID, size and the chunks it was cut from (in order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_ID: str
    size: int = Field(ge=8)
    chunk_IDs: list[str] = Field(min_length=1)


class SyncReserve(BaseModel):
    """Sender KME, master SAE, the receiver's slave SAEs, and the keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kme_id: str
    master_SAE_ID: str
    slave_SAE_IDs: list[str] = Field(min_length=1)
    keys: list[SyncKey] = Field(min_length=1)


class SyncBatch(BaseModel):
    """What one sync round trip carries: the reservations of concurrent ``enc_keys``
    requests, applied by the peer in one transaction (all or none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kme_id: str
    reservations: list[SyncReserve] = Field(min_length=1)
    discard_chunk_IDs: list[str] = Field(default_factory=list)


class PeerLink(Protocol):
    """Sends sync batches to the peer KME; raises ServiceUnavailableError when it cannot."""

    async def reserve(self, batch: SyncBatch) -> None: ...


def sync_message(
    kme_id: str, master: str, slaves: list[str], plan: list[PlannedKey]
) -> SyncReserve:
    """The message announcing ``plan`` to the peer."""
    keys = [SyncKey(key_ID=p.key_id, size=p.size_bits, chunk_IDs=list(p.chunk_ids)) for p in plan]
    return SyncReserve(kme_id=kme_id, master_SAE_ID=master, slave_SAE_IDs=slaves, keys=keys)


def plan_of(message: SyncReserve) -> list[PlannedKey]:
    """The key plan a received message describes."""
    return [PlannedKey(k.key_ID, k.size, tuple(k.chunk_IDs)) for k in message.keys]
