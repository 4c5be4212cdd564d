"""The KME service without HTTP: two KMEs linked in-process, the sync, the feeder."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests._kme import DirectPeer, fill, linked_services

from qlight.qkd.kme.errors import BadRequestError, ServiceUnavailableError, UnauthorizedError
from qlight.qkd.kme.feeder import FeederSettings, KeyFeeder
from qlight.qkd.kme.service import KmeService
from qlight.qkd.kme.store import KmeStore


@pytest.fixture
def pair(tmp_path: Path) -> tuple[KmeService, KmeService]:
    a, b, _ = linked_services(tmp_path)
    fill((a, b), 50)
    yield a, b
    a.store.close()
    b.store.close()


def _keys(container: object) -> dict[str, bytes]:
    return {k.key_ID: base64.b64decode(k.key) for k in container.keys}  # type: ignore[attr-defined]


def test_enc_then_dec_gives_identical_keys_once(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair
    got = _keys(asyncio.run(a.enc_keys("sae-a", "sae-b", number=3, size=512)))
    assert len(got) == 3
    assert all(len(k) == 64 for k in got.values())
    assert len(set(got.values())) == 3
    assert a.store.pool_count("kme-a") == 50 - 6
    assert b.store.pool_count("kme-a") == 50 - 6
    back = _keys(b.dec_keys("sae-b", "sae-a", list(got)))
    assert back == got
    with pytest.raises(BadRequestError):
        b.dec_keys("sae-b", "sae-a", list(got)[:1])
    assert b.store.waiting_count() == 0


def test_only_the_named_slave_may_fetch(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair
    got = _keys(asyncio.run(a.enc_keys("sae-a", "sae-b")))
    kid = next(iter(got))
    with pytest.raises(BadRequestError):  # sae-c is on KME A, where no copy waits
        a.dec_keys("sae-c", "sae-a", [kid])
    with pytest.raises(UnauthorizedError):  # right KME, wrong master named
        b.dec_keys("sae-b", "sae-c", [kid])
    assert _keys(b.dec_keys("sae-b", "sae-a", [kid])) == got


def test_additional_slaves_on_both_kmes(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair
    got = _keys(asyncio.run(a.enc_keys("sae-a", "sae-b", additional_slaves=["sae-c"])))
    assert _keys(a.dec_keys("sae-c", "sae-a", list(got))) == got
    assert _keys(b.dec_keys("sae-b", "sae-a", list(got))) == got


def test_reverse_direction_uses_the_other_half_of_the_pool(
    pair: tuple[KmeService, KmeService],
) -> None:
    a, b = pair
    got = _keys(asyncio.run(b.enc_keys("sae-b", "sae-a", number=2)))
    assert a.store.pool_count("kme-b") == 48
    assert a.store.pool_count("kme-a") == 50
    assert _keys(a.dec_keys("sae-a", "sae-b", list(got))) == got


def test_local_slave_needs_no_peer(tmp_path: Path, pair: tuple[KmeService, KmeService]) -> None:
    a, _b = pair
    a.peer = None
    got = _keys(asyncio.run(a.enc_keys("sae-a", "sae-c")))
    assert _keys(a.dec_keys("sae-c", "sae-a", list(got))) == got
    with pytest.raises(ServiceUnavailableError, match="not connected"):
        asyncio.run(a.enc_keys("sae-a", "sae-b"))


def test_status_counts_default_size_keys(pair: tuple[KmeService, KmeService]) -> None:
    a, _ = pair
    s = a.status("sae-a", "sae-b")
    assert (s.source_KME_ID, s.target_KME_ID, s.stored_key_count) == ("kme-a", "kme-b", 50)
    assert a.status("sae-a", "sae-c").target_KME_ID == "kme-a"


def test_not_enough_material_is_503_and_spends_nothing(
    pair: tuple[KmeService, KmeService],
) -> None:
    a, b = pair
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(a.enc_keys("sae-a", "sae-b", number=26, size=512))  # needs 52 chunks
    assert a.store.pool_count("kme-a") == 50
    assert b.store.pool_count("kme-a") == 50


def test_failed_sync_is_503_and_discards_the_chunks(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair

    class Down:
        async def reserve(self, message: object) -> None:
            raise ConnectionError("down")

    a.peer = Down()
    with pytest.raises(ServiceUnavailableError, match="sync failed"):
        asyncio.run(a.enc_keys("sae-a", "sae-b"))
    assert a.store.pool_count("kme-a") == 49  # spent, never reused (the peer may have it)
    assert b.store.waiting_count() == 0


def test_sync_is_accepted_only_from_the_peer(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair
    assert isinstance(a.peer, DirectPeer)
    got = _keys(asyncio.run(a.enc_keys("sae-a", "sae-b")))
    msg = a.peer.sent[-1]
    text = msg.model_dump_json()
    for k in got.values():  # the sync carries IDs only, never key material
        assert base64.b64encode(k).decode() not in text
        assert k.hex() not in text
    assert msg.reservations[0].keys[0].key_ID in got
    with pytest.raises(UnauthorizedError):
        b.apply_sync("sae-a", msg)
    with pytest.raises(UnauthorizedError):
        a.apply_sync("kme-b", msg)  # kme_id of the message is not the peer of A
    wrong = msg.reservations[0].model_copy(update={"slave_SAE_IDs": ["sae-c"]})
    with pytest.raises(BadRequestError):
        b.apply_sync("kme-a", msg.model_copy(update={"reservations": [wrong]}))


def test_concurrent_requests_are_issued_in_batches(pair: tuple[KmeService, KmeService]) -> None:
    a, b = pair
    assert isinstance(a.peer, DirectPeer)

    async def many() -> list[Any]:
        calls = [a.enc_keys("sae-a", "sae-b") for _ in range(10)]
        calls.append(a.enc_keys("sae-a", "sae-b", number=60))  # cannot fit: 503 alone
        calls += [a.enc_keys("sae-a", "sae-c") for _ in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    out = asyncio.run(many())
    assert isinstance(out[10], ServiceUnavailableError)
    keys = [_keys(c) for i, c in enumerate(out) if i != 10]
    assert len({k for d in keys for k in d}) == 15
    # all were queued before the first batch started: one transaction, one round trip
    assert [len(m.reservations) for m in a.peer.sent] == [10]
    assert b.store.waiting_count() == 10
    assert a.store.waiting_count() == 5
    # the chunks of sae-c's keys (local to A) leave B's pool with the batch's sync
    assert len(a.peer.sent[-1].discard_chunk_IDs) == 5
    assert a.store.pool_count("kme-a") == 50 - 15
    assert b.store.pool_count("kme-a") == 50 - 15
    # a local-only request waits for no peer; its chunks ride along with the next sync
    asyncio.run(a.enc_keys("sae-a", "sae-c"))
    assert b.store.pool_count("kme-a") == 50 - 15
    asyncio.run(a.enc_keys("sae-a", "sae-b"))
    assert len(a.peer.sent[-1].discard_chunk_IDs) == 1
    assert a.store.pool_count("kme-a") == b.store.pool_count("kme-a") == 50 - 17


def test_feeder_stores_identical_chunks_split_by_owner(tmp_path: Path) -> None:
    sa = KmeStore(tmp_path / "a.sqlite", chunk_bytes=32, synchronous="NORMAL")
    sb = KmeStore(tmp_path / "b.sqlite", chunk_bytes=32, synchronous="NORMAL")
    feeder = KeyFeeder(sa, sb, "kme-a", "kme-b", np.random.default_rng(1))
    bits = np.random.default_rng(2).integers(0, 2, 256 * 7 + 100).astype(np.uint8)
    assert feeder.store_key(bits) == 7
    assert (sa.pool_count("kme-a"), sa.pool_count("kme-b")) == (4, 3)
    assert (sb.pool_count("kme-a"), sb.pool_count("kme-b")) == (4, 3)
    ca, cb = sa.claim("kme-a", 4), sb.claim("kme-a", 4)
    assert [(c.chunk_id, c.material) for c in ca] == [(c.chunk_id, c.material) for c in cb]
    assert ca[0].material == np.packbits(bits[:256]).tobytes()
    feeder.stop()
    assert feeder.store_key(bits) == 0  # a stopped feeder writes nothing
    sa.close()
    sb.close()


def test_feeder_round_runs_link_and_post_processing(tmp_path: Path) -> None:
    sa = KmeStore(tmp_path / "a.sqlite", chunk_bytes=32, synchronous="NORMAL")
    sb = KmeStore(tmp_path / "b.sqlite", chunk_bytes=32, synchronous="NORMAL")
    feeder = KeyFeeder(sa, sb, "kme-a", "kme-b", np.random.default_rng(3),
                       FeederSettings(pulses_per_round=2_000_000))  # fmt: skip
    n = feeder.run_round()
    # modern preset, 10 km, mu = 0.5: ~3e-2 secret bits per pulse -> thousands of 256-bit chunks
    assert n > 100
    assert sa.pool_count() == sb.pool_count() == n
    ca, cb = sa.claim("kme-b", n // 2), sb.claim("kme-b", n // 2)
    assert [(c.chunk_id, c.material) for c in ca] == [(c.chunk_id, c.material) for c in cb]
    sa.close()
    sb.close()
