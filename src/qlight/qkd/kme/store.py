"""The KME key store: one SQLite file (WAL, every change one transaction), surviving restarts.

Two tables hold key material:

* ``pool`` — final keys from post-processing, cut into chunks of ``chunk_bytes`` bytes,
  each under a chunk UUID identical in both KMEs' stores, and each *owned* by one KME: only
  the owner may spend it for a master SAE (so the two KMEs never spend the same chunk
  concurrently; see ``docs/kme.md``, sync protocol).
* ``keys`` + ``grants`` — keys issued by an ``enc_keys`` request, waiting for their slave
  SAE(s): one ``grants`` row per SAE allowed to fetch the key once with ``dec_keys``. A
  delivery deletes the grant, and the key when no grant is left.

Key bytes are never logged or put in an exception message.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qlight.errors import FileFormatError, ParameterError
from qlight.qkd.kme.errors import BadRequestError, ServiceUnavailableError, UnauthorizedError

__all__ = ["Chunk", "KmeStore", "PlannedKey"]

#: Chunk IDs per ``IN (…)`` list: well below SQLite's host-parameter limit (999 before
#: SQLite 3.32, 32766 since).
_IN_BATCH = 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pool (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id TEXT NOT NULL UNIQUE,
        material BLOB NOT NULL,
        owner TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pool_owner ON pool (owner, seq)",
    """CREATE TABLE IF NOT EXISTS keys (
        key_id TEXT PRIMARY KEY,
        material BLOB NOT NULL,
        master_sae TEXT NOT NULL,
        created_s REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS grants (
        key_id TEXT NOT NULL REFERENCES keys (key_id),
        sae_id TEXT NOT NULL,
        PRIMARY KEY (key_id, sae_id))""",
)


@dataclass(frozen=True)
class Chunk:
    """One pool chunk: its UUID, position in the pool and bytes."""

    chunk_id: str
    seq: int
    material: bytes


@dataclass(frozen=True)
class PlannedKey:
    """A key to issue: its UUID, size in bits and the pool chunks it is cut from (in order)."""

    key_id: str
    size_bits: int
    chunk_ids: tuple[str, ...]


def assemble(chunks: Sequence[bytes], size_bits: int) -> bytes:
    """Concatenate ``chunks``; keep the first ``size_bits // 8`` bytes (discard the rest)."""
    material = b"".join(chunks)
    n = size_bits // 8
    if len(material) < n:
        raise ServiceUnavailableError("key store inconsistent: chunks shorter than the key")
    return material[:n]


class KmeStore:
    """The key store of one KME (see the module docstring).

    Parameters
    ----------
    path : str or Path
        SQLite file (created if missing; its folder must exist).
    chunk_bytes : int
        Size of every pool chunk (the default key size / 8).
    max_chunks : int
        :meth:`put_chunks` refuses to grow the pool beyond this many chunks.
    synchronous : str
        SQLite ``synchronous`` pragma: ``FULL`` (default: a committed delivery survives a
        power cut, so no key can be delivered twice) or ``NORMAL`` (faster; survives a crash
        of the process, not of the machine).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        chunk_bytes: int,
        max_chunks: int = 100_000,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ParameterError("path", str(path), "must be a file in an existing folder")
        if chunk_bytes < 1:
            raise ParameterError("chunk_bytes", chunk_bytes, "must be >= 1")
        if synchronous not in ("FULL", "NORMAL"):
            raise ParameterError("synchronous", synchronous, "must be FULL or NORMAL")
        self.chunk_bytes = chunk_bytes
        self.max_chunks = max_chunks
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None  # chunks per owner, see _owner_counts
        self._data_version = -1
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            for stmt in _SCHEMA:
                self._db.execute(stmt)
        except sqlite3.DatabaseError as exc:
            raise FileFormatError(f"{self.path}: not a qlight KME store ({exc})") from None

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> KmeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------
    def _begin(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailableError(f"key store busy ({exc})") from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # -- pool ---------------------------------------------------------------------------
    def put_chunks(self, chunks: Sequence[tuple[str, bytes]], owner: str) -> None:
        """Add chunks ``(chunk_id, bytes)`` owned by KME ``owner`` (all or none)."""
        for cid, material in chunks:
            if len(material) != self.chunk_bytes:
                raise ParameterError("chunk", cid, f"must hold {self.chunk_bytes} bytes")
        with self._lock:
            self._begin()
            try:
                (n,) = self._db.execute("SELECT COUNT(*) FROM pool").fetchone()
                if int(n) + len(chunks) > self.max_chunks:
                    raise ParameterError("pool", int(n), f"has no room for {len(chunks)} chunks")
                self._db.executemany(
                    "INSERT INTO pool (chunk_id, material, owner) VALUES (?, ?, ?)",
                    [(cid, bytes(m), owner) for cid, m in chunks],
                )
                self._count_change(owner, len(chunks))
            except sqlite3.IntegrityError:
                self._counts = None
                self._rollback()
                raise ParameterError(
                    "chunk_id", "(one of the batch)", "is already stored"
                ) from None
            except BaseException:
                self._rollback()
                raise
            self._db.execute("COMMIT")

    def _owner_counts(self) -> dict[str, int]:
        """Chunks per owner (call with the lock held). Cached: recounted only when another
        connection has committed since (SQLite ``PRAGMA data_version``); this connection's
        own changes update the cache as they commit."""
        (dv,) = self._db.execute("PRAGMA data_version").fetchone()
        if self._counts is None or int(dv) != self._data_version:
            rows = self._db.execute("SELECT owner, COUNT(*) FROM pool GROUP BY owner")
            self._counts = {str(o): int(n) for o, n in rows}
            self._data_version = int(dv)
        return self._counts

    def _count_change(self, owner: str, delta: int) -> None:
        """Update the cache after a change inside a transaction (before COMMIT)."""
        if self._counts is None:
            return
        (dv,) = self._db.execute("PRAGMA data_version").fetchone()
        if int(dv) != self._data_version:  # another connection committed: recount later
            self._counts = None
            return
        self._counts[owner] = self._counts.get(owner, 0) + delta

    def pool_count(self, owner: str | None = None) -> int:
        """Chunks in the pool (owned by ``owner``, or all)."""
        with self._lock:
            counts = self._owner_counts()
            return sum(counts.values()) if owner is None else counts.get(owner, 0)

    def claim(self, owner: str, n_chunks: int) -> list[Chunk]:
        """Remove and return the ``n_chunks`` oldest chunks owned by ``owner`` (all or none).

        Raises
        ------
        ServiceUnavailableError
            Fewer chunks are available (the link has not produced enough key yet).
        """
        (got,) = self.claim_many(owner, [n_chunks])
        if got is None:
            raise ServiceUnavailableError(
                f"not enough key material: {n_chunks} chunks needed, "
                f"{self.pool_count(owner)} stored"
            )
        return got

    def claim_many(self, owner: str, counts: Sequence[int]) -> list[list[Chunk] | None]:
        """Several claims in one transaction, served in order, oldest chunks first; a claim
        that no longer fits gets ``None`` (and takes nothing)."""
        with self._lock:
            self._begin()
            try:
                rows = self._db.execute(
                    "SELECT chunk_id, seq, material FROM pool WHERE owner = ? ORDER BY seq LIMIT ?",
                    (owner, sum(counts)),
                ).fetchall()
                out: list[list[Chunk] | None] = []
                used = 0
                for n in counts:
                    if used + n > len(rows):
                        out.append(None)
                        continue
                    out.append(
                        [Chunk(str(r[0]), int(r[1]), bytes(r[2])) for r in rows[used : used + n]]
                    )
                    used += n
                self._db.executemany(
                    "DELETE FROM pool WHERE seq = ?", [(r[1],) for r in rows[:used]]
                )
                self._count_change(owner, -used)
            except BaseException:
                self._counts = None
                self._rollback()
                raise
            self._db.execute("COMMIT")
        return out

    # -- issued keys --------------------------------------------------------------------
    def _insert_keys(
        self, keys: Sequence[tuple[str, bytes]], master_sae: str, slaves: Sequence[str]
    ) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT INTO keys (key_id, material, master_sae, created_s) VALUES (?, ?, ?, ?)",
            [(kid, m, master_sae, now) for kid, m in keys],
        )
        self._db.executemany(
            "INSERT INTO grants (key_id, sae_id) VALUES (?, ?)",
            [(kid, s) for kid, _ in keys for s in slaves],
        )

    def reserve(
        self, keys: Sequence[tuple[str, bytes]], master_sae: str, slaves: Sequence[str]
    ) -> None:
        """Store issued keys ``(key_ID, bytes)`` for the ``slaves`` served here (all or none)."""
        self.reserve_many([(keys, master_sae, slaves)])

    def reserve_many(
        self, items: Sequence[tuple[Sequence[tuple[str, bytes]], str, Sequence[str]]]
    ) -> None:
        """Several :meth:`reserve` calls ``(keys, master_sae, slaves)`` in one transaction."""
        items = [it for it in items if it[0] and it[2]]
        if not items:
            return
        with self._lock:
            self._begin()
            try:
                for keys, master_sae, slaves in items:
                    self._insert_keys(keys, master_sae, slaves)
            except sqlite3.IntegrityError:
                self._rollback()
                raise ServiceUnavailableError("key ID already issued") from None
            except BaseException:
                self._rollback()
                raise
            self._db.execute("COMMIT")

    def reserve_from_pool(
        self, plan: Sequence[PlannedKey], owner: str, master_sae: str, slaves: Sequence[str]
    ) -> None:
        """The peer side of a sync: spend exactly the planned chunks (owned by ``owner``),
        build the same keys and store them for the local ``slaves`` — one transaction.

        Raises
        ------
        ServiceUnavailableError
            A planned chunk is not in the pool (stores out of sync); nothing changes.
        """
        self.reserve_from_pool_many([(plan, owner, master_sae, slaves)])

    def reserve_from_pool_many(
        self,
        items: Sequence[tuple[Sequence[PlannedKey], str, str, Sequence[str]]],
        discard: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """Several :meth:`reserve_from_pool` calls ``(plan, owner, master_sae, slaves)`` in
        one transaction (all or none); ``discard = (owner, chunk_ids)`` also deletes those
        chunks (spent by the peer for its own SAEs; missing ones are ignored)."""
        with self._lock:
            self._begin()
            try:
                self._spend_plans(items)
                if discard is not None and discard[1]:
                    before = self._db.total_changes
                    self._db.executemany(
                        "DELETE FROM pool WHERE chunk_id = ? AND owner = ?",
                        [(c, discard[0]) for c in discard[1]],
                    )
                    self._count_change(discard[0], before - self._db.total_changes)
            except sqlite3.IntegrityError:
                self._counts = None
                self._rollback()
                raise ServiceUnavailableError("key ID already issued") from None
            except BaseException:
                self._counts = None
                self._rollback()
                raise
            self._db.execute("COMMIT")

    def _pool_materials(self, owner: str, chunk_ids: Sequence[str]) -> dict[str, bytes]:
        """Bytes of the listed chunks owned by ``owner`` (absent ones and other owners' are
        left out): one ``SELECT … IN (…)`` per :data:`_IN_BATCH` IDs (inside the
        transaction)."""
        unique = list(dict.fromkeys(chunk_ids))
        found: dict[str, bytes] = {}
        for i in range(0, len(unique), _IN_BATCH):
            part = unique[i : i + _IN_BATCH]
            marks = ",".join("?" * len(part))
            # By chunk_id only: with ``owner = ?`` in the WHERE clause SQLite prefers the
            # (owner, seq) index and scans every chunk of the owner (measured 20x slower).
            rows = self._db.execute(
                f"SELECT chunk_id, material, owner FROM pool WHERE chunk_id IN ({marks})", part
            )
            found.update((str(cid), bytes(m)) for cid, m, o in rows if o == owner)
        return found

    def _delete_chunks(self, owner: str, chunk_ids: Sequence[str]) -> None:
        """Delete the listed chunks, all owned by ``owner`` (checked by the caller), inside
        the transaction; the cached counts follow."""
        unique = list(dict.fromkeys(chunk_ids))
        before = self._db.total_changes
        for i in range(0, len(unique), _IN_BATCH):
            part = unique[i : i + _IN_BATCH]
            marks = ",".join("?" * len(part))
            self._db.execute(f"DELETE FROM pool WHERE chunk_id IN ({marks})", part)
        self._count_change(owner, before - self._db.total_changes)

    def _spend_plans(
        self, items: Sequence[tuple[Sequence[PlannedKey], str, str, Sequence[str]]]
    ) -> None:
        """Build and store the planned keys of ``items``, spending their chunks.

        The chunks are read with one query per owner (per :data:`_IN_BATCH` IDs), not one
        per chunk. As when each item was read on its own, in order: a chunk may appear twice
        in one item's plan, but a chunk spent by an earlier item is gone for a later one.
        """
        wanted: dict[str, list[str]] = {}
        for plan, owner, _, _ in items:
            wanted.setdefault(owner, []).extend(c for pk in plan for c in pk.chunk_ids)
        pool = {owner: self._pool_materials(owner, ids) for owner, ids in wanted.items()}
        for plan, owner, master_sae, slaves in items:
            available = pool[owner]
            built: list[tuple[str, bytes]] = []
            for pk in plan:
                parts: list[bytes] = []
                for cid in pk.chunk_ids:
                    material = available.get(cid)
                    if material is None:
                        raise ServiceUnavailableError(f"chunk {cid} not in the pool of {owner}")
                    parts.append(material)
                built.append((pk.key_id, assemble(parts, pk.size_bits)))
            for pk in plan:
                for cid in pk.chunk_ids:
                    available.pop(cid, None)
            if slaves:
                self._insert_keys(built, master_sae, slaves)
        for owner, ids in wanted.items():
            self._delete_chunks(owner, ids)

    def deliver(self, key_ids: Sequence[str], sae_id: str, master_sae: str) -> list[bytes]:
        """Hand keys to slave ``sae_id`` once: remove its grants (all or none).

        Raises
        ------
        BadRequestError
            A key ID is repeated, or no such key is waiting (never issued, or delivered).
        UnauthorizedError
            The key exists but was issued by another master or for other slaves.
        """
        if len(set(key_ids)) != len(key_ids):
            raise BadRequestError("a key_ID is repeated in the request")
        with self._lock:
            self._begin()
            try:
                out: list[bytes] = []
                for kid in key_ids:
                    row = self._db.execute(
                        "SELECT material, master_sae FROM keys WHERE key_id = ?", (kid,)
                    ).fetchone()
                    if row is None:
                        raise BadRequestError(f"key_ID {kid} not found", [{"key_ID": kid}])
                    granted = self._db.execute(
                        "SELECT 1 FROM grants WHERE key_id = ? AND sae_id = ?", (kid, sae_id)
                    ).fetchone()
                    if granted is None or str(row[1]) != master_sae:
                        raise UnauthorizedError(
                            f"key_ID {kid} was not issued to {sae_id} by {master_sae}",
                            [{"key_ID": kid}],
                        )
                    out.append(bytes(row[0]))
                self._db.executemany(
                    "DELETE FROM grants WHERE key_id = ? AND sae_id = ?",
                    [(kid, sae_id) for kid in key_ids],
                )
                self._db.executemany(
                    "DELETE FROM keys WHERE key_id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM grants WHERE grants.key_id = keys.key_id)",
                    [(kid,) for kid in key_ids],
                )
            except BaseException:
                self._rollback()
                raise
            self._db.execute("COMMIT")
        return out

    def waiting_count(self) -> int:
        """Issued keys still waiting for at least one slave."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM keys").fetchone()
        return int(n)
