"""Key stores: where final keys wait, each under a UUID, until they are delivered.

The key-delivery service (ETSI GS QKD 014 V1.1.1 (2019), "Get key" / "Get key with key
IDs") uses the :class:`KeyStore` protocol: the pipeline :meth:`~KeyStore.put` s keys, the
master SAE's request :meth:`~KeyStore.take_any` s some (they leave the store and are
returned with their IDs), the slave SAE's request :meth:`~KeyStore.take` s the same IDs from
its own side's store. A delivered key is gone: a second request for its ID fails.

Two implementations: :class:`MemoryKeyStore` (a dict, for tests and one process) and
:class:`SqliteKeyStore` (one SQLite file; survives restarts; each take is one transaction,
so a key is delivered at most once even with several threads or processes).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from qlight.errors import FileFormatError, ParameterError, QlightError

__all__ = [
    "KeyNotFoundError",
    "KeyStore",
    "KeyStoreStatus",
    "MemoryKeyStore",
    "SqliteKeyStore",
    "StoredKey",
    "split_key",
]


class KeyNotFoundError(QlightError, KeyError):
    """No key with this ID is in the store (never stored, or already delivered)."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"no key with ID {key_id!r} in the store")

    def __str__(self) -> str:
        return f"no key with ID {self.key_id!r} in the store"


@dataclass(frozen=True)
class StoredKey:
    """One key: its UUID, its bytes and its length in bits (``len(key) * 8 >= size_bits``)."""

    key_id: str
    key: bytes
    size_bits: int


@dataclass(frozen=True)
class KeyStoreStatus:
    """What the store holds (the ``stored_key_count``/``max_key_count`` of ETSI 014 Status)."""

    stored_key_count: int
    max_key_count: int | None
    stored_bits: int
    min_key_size_bits: int | None
    max_key_size_bits: int | None


@runtime_checkable
class KeyStore(Protocol):
    """Interface of a key store (see the module docstring)."""

    def put(self, key: bytes, size_bits: int | None = None, key_id: str | None = None) -> str:
        """Store one key; return its ID (a new UUID4 unless ``key_id`` is given)."""
        ...

    def take(self, key_ids: Sequence[str]) -> list[StoredKey]:
        """Remove and return the keys with these IDs; all or none (KeyNotFoundError)."""
        ...

    def take_any(self, count: int) -> list[StoredKey]:
        """Remove and return the ``count`` oldest keys; all or none (KeyNotFoundError)."""
        ...

    def count(self) -> int:
        """Number of keys in the store."""
        ...

    def status(self) -> KeyStoreStatus:
        """Counts and sizes of the stored keys."""
        ...


def _check_put(key: bytes, size_bits: int | None, key_id: str | None) -> tuple[int, str]:
    if not isinstance(key, bytes | bytearray) or len(key) == 0:
        raise ParameterError("key", type(key).__name__, "must be non-empty bytes")
    size = 8 * len(key) if size_bits is None else size_bits
    if isinstance(size, bool) or not isinstance(size, int) or not 8 * len(key) - 7 <= size:
        raise ParameterError("size_bits", size_bits, f"must fit in {len(key)} bytes")
    if size > 8 * len(key):
        raise ParameterError("size_bits", size_bits, f"must fit in {len(key)} bytes")
    kid = str(uuid.uuid4()) if key_id is None else key_id
    try:
        kid = str(uuid.UUID(kid))
    except (ValueError, TypeError, AttributeError):
        raise ParameterError("key_id", key_id, "must be a UUID") from None
    return size, kid


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ParameterError("count", count, "must be an integer >= 1")
    return count


def _status(sizes: list[int], max_keys: int | None) -> KeyStoreStatus:
    return KeyStoreStatus(
        stored_key_count=len(sizes),
        max_key_count=max_keys,
        stored_bits=int(sum(sizes)),
        min_key_size_bits=min(sizes) if sizes else None,
        max_key_size_bits=max(sizes) if sizes else None,
    )


def _check_capacity(n: int, max_keys: int | None) -> None:
    if max_keys is not None and n >= max_keys:
        raise ParameterError("key store", n, f"is full (max_key_count = {max_keys})")


class MemoryKeyStore:
    """A :class:`KeyStore` in memory (thread-safe); keys are lost when the process ends.

    Parameters
    ----------
    max_key_count : int, optional
        Refuse :meth:`put` beyond this many keys.
    """

    def __init__(self, max_key_count: int | None = None) -> None:
        self._keys: OrderedDict[str, StoredKey] = OrderedDict()
        self._lock = threading.Lock()
        self._max = None if max_key_count is None else _check_count(max_key_count)

    def put(self, key: bytes, size_bits: int | None = None, key_id: str | None = None) -> str:
        """Store one key; return its ID."""
        size, kid = _check_put(key, size_bits, key_id)
        with self._lock:
            _check_capacity(len(self._keys), self._max)
            if kid in self._keys:
                raise ParameterError("key_id", kid, "is already in the store")
            self._keys[kid] = StoredKey(kid, bytes(key), size)
        return kid

    def take(self, key_ids: Sequence[str]) -> list[StoredKey]:
        """Remove and return the keys with these IDs (all or none)."""
        with self._lock:
            for kid in key_ids:
                if kid not in self._keys:
                    raise KeyNotFoundError(kid)
            if len(set(key_ids)) != len(key_ids):
                raise ParameterError("key_ids", list(key_ids), "must not repeat an ID")
            return [self._keys.pop(kid) for kid in key_ids]

    def take_any(self, count: int) -> list[StoredKey]:
        """Remove and return the ``count`` oldest keys (all or none)."""
        _check_count(count)
        with self._lock:
            if len(self._keys) < count:
                raise KeyNotFoundError(f"<{count} keys requested, {len(self._keys)} stored>")
            return [self._keys.popitem(last=False)[1] for _ in range(count)]

    def count(self) -> int:
        """Number of keys in the store."""
        with self._lock:
            return len(self._keys)

    def status(self) -> KeyStoreStatus:
        """Counts and sizes of the stored keys."""
        with self._lock:
            return _status([k.size_bits for k in self._keys.values()], self._max)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS qlight_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL UNIQUE,
    key BLOB NOT NULL,
    size_bits INTEGER NOT NULL
)
"""


class SqliteKeyStore:
    """A :class:`KeyStore` in one SQLite file; keys survive restarts until delivered.

    Parameters
    ----------
    path : str or Path
        The database file (created if missing; its folder must exist).
    max_key_count : int, optional
        Refuse :meth:`put` beyond this many keys.
    """

    def __init__(self, path: str | Path, max_key_count: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ParameterError("path", str(path), "must be a file in an existing folder")
        self._max = None if max_key_count is None else _check_count(max_key_count)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise FileFormatError(f"{self.path}: not a qlight key store ({exc})") from None

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(self, key: bytes, size_bits: int | None = None, key_id: str | None = None) -> str:
        """Store one key; return its ID."""
        size, kid = _check_put(key, size_bits, key_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (n,) = self._db.execute("SELECT COUNT(*) FROM qlight_keys").fetchone()
                _check_capacity(int(n), self._max)
                self._db.execute(
                    "INSERT INTO qlight_keys (key_id, key, size_bits) VALUES (?, ?, ?)",
                    (kid, bytes(key), size),
                )
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise ParameterError("key_id", kid, "is already in the store") from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return kid

    def _take_rows(self, rows: list[tuple[str, bytes, int]]) -> list[StoredKey]:
        self._db.executemany("DELETE FROM qlight_keys WHERE key_id = ?", [(r[0],) for r in rows])
        self._db.execute("COMMIT")
        return [StoredKey(str(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def take(self, key_ids: Sequence[str]) -> list[StoredKey]:
        """Remove and return the keys with these IDs (all or none)."""
        if len(set(key_ids)) != len(key_ids):
            raise ParameterError("key_ids", list(key_ids), "must not repeat an ID")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            rows: list[tuple[str, bytes, int]] = []
            for kid in key_ids:
                row = self._db.execute(
                    "SELECT key_id, key, size_bits FROM qlight_keys WHERE key_id = ?", (kid,)
                ).fetchone()
                if row is None:
                    self._db.execute("ROLLBACK")
                    raise KeyNotFoundError(kid)
                rows.append(row)
            return self._take_rows(rows)

    def take_any(self, count: int) -> list[StoredKey]:
        """Remove and return the ``count`` oldest keys (all or none)."""
        _check_count(count)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT key_id, key, size_bits FROM qlight_keys ORDER BY seq LIMIT ?", (count,)
            ).fetchall()
            if len(rows) < count:
                self._db.execute("ROLLBACK")
                raise KeyNotFoundError(f"<{count} keys requested, {len(rows)} stored>")
            return self._take_rows(rows)

    def count(self) -> int:
        """Number of keys in the store."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM qlight_keys").fetchone()
        return int(n)

    def status(self) -> KeyStoreStatus:
        """Counts and sizes of the stored keys."""
        with self._lock:
            sizes = [int(r[0]) for r in self._db.execute("SELECT size_bits FROM qlight_keys")]
        return _status(sizes, self._max)


def split_key(bits: NDArray[np.uint8], key_size_bits: int) -> list[bytes]:
    """Cut a final key (0/1 bits) into keys of ``key_size_bits`` bits (a multiple of 8).

    The last ``len(bits) mod key_size_bits`` bits are dropped (never stored as a short key).
    """
    if isinstance(key_size_bits, bool) or not isinstance(key_size_bits, int):
        raise ParameterError("key_size_bits", key_size_bits, "must be an integer")
    if key_size_bits < 8 or key_size_bits % 8:
        raise ParameterError("key_size_bits", key_size_bits, "must be a multiple of 8, >= 8")
    arr = np.asarray(bits, dtype=np.uint8)
    n_keys = arr.size // key_size_bits
    packed = np.packbits(arr[: n_keys * key_size_bits])
    step = key_size_bits // 8
    return [packed[i * step : (i + 1) * step].tobytes() for i in range(n_keys)]
