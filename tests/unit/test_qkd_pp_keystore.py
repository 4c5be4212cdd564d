"""Key stores: put/take by UUID, delivered keys leave, SQLite survives a restart."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.qkd.postprocess.keystore import (
    KeyNotFoundError,
    KeyStore,
    MemoryKeyStore,
    SqliteKeyStore,
    split_key,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    if request.param == "memory":
        return MemoryKeyStore(max_key_count=5)
    return SqliteKeyStore(tmp_path / "keys.db", max_key_count=5)


def test_put_take_by_id_and_keys_leave(store: KeyStore) -> None:
    assert isinstance(store, KeyStore)
    ids = [store.put(bytes([i]) * 32) for i in range(3)]
    assert all(str(uuid.UUID(k)) == k for k in ids)
    assert store.count() == 3
    got = store.take([ids[1]])
    assert got[0].key == bytes([1]) * 32
    assert got[0].size_bits == 256
    assert store.count() == 2
    with pytest.raises(KeyNotFoundError):
        store.take([ids[1]])  # delivered once only
    with pytest.raises(KeyNotFoundError):
        store.take([ids[0], str(uuid.uuid4())])  # all or none
    assert store.count() == 2
    oldest = store.take_any(1)
    assert oldest[0].key_id == ids[0]
    st = store.status()
    assert st.stored_key_count == 1
    assert st.stored_bits == 256
    assert st.max_key_count == 5
    with pytest.raises(KeyNotFoundError):
        store.take_any(2)
    assert store.count() == 1


def test_capacity_and_bad_input(store: KeyStore) -> None:
    for _ in range(5):
        store.put(b"\x01" * 4)
    with pytest.raises(ParameterError):
        store.put(b"\x01" * 4)
    with pytest.raises(ParameterError):
        store.take_any(0)
    with pytest.raises(ParameterError):
        store.put(b"", None)
    with pytest.raises(ParameterError):
        store.put(b"\x00", key_id="not-a-uuid")
    with pytest.raises(ParameterError):
        store.put(b"\x00", size_bits=9)


def test_explicit_id_and_duplicate(tmp_path: Path) -> None:
    s = MemoryKeyStore()
    kid = str(uuid.uuid4())
    assert s.put(b"ab", key_id=kid) == kid
    with pytest.raises(ParameterError):
        s.put(b"cd", key_id=kid)
    q = SqliteKeyStore(tmp_path / "k.db")
    q.put(b"ab", key_id=kid)
    with pytest.raises(ParameterError):
        q.put(b"cd", key_id=kid)
    assert q.count() == 1


def test_sqlite_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    with SqliteKeyStore(path) as s:
        ids = [s.put(bytes([i, i + 1])) for i in range(4)]
        s.take([ids[0]])
    with SqliteKeyStore(path) as s2:
        assert s2.count() == 3
        assert [k.key for k in s2.take(ids[1:3])] == [b"\x01\x02", b"\x02\x03"]
        assert s2.count() == 1


def test_sqlite_concurrent_takes_deliver_each_key_once(tmp_path: Path) -> None:
    s = SqliteKeyStore(tmp_path / "keys.db")
    for i in range(200):
        s.put(i.to_bytes(2, "big"))
    taken: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                got = s.take_any(3)
            except KeyNotFoundError:
                return
            with lock:
                taken.extend(k.key for k in got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == len(set(taken)) == 198  # 66 takes of 3; 2 left
    assert s.count() == 2


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(Exception, match="not a qlight key store"):
        SqliteKeyStore(bad)


def test_split_key() -> None:
    bits = np.array([1, 0, 0, 0, 0, 0, 0, 1] * 5 + [1, 1, 1], dtype=np.uint8)
    keys = split_key(bits, 16)
    assert keys == [b"\x81\x81", b"\x81\x81"]  # 43 bits: two 16-bit keys, 11 bits dropped
    with pytest.raises(ParameterError):
        split_key(bits, 12)
