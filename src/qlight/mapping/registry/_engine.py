"""Opening a registry database: URL handling, SQLite safety settings, checks, migrations.

SQLite settings (applied to every connection):

* ``journal_mode=WAL`` — readers never block the writer; a commit is one append to the WAL,
  so a process killed mid-write (SIGKILL) leaves the last committed state on reopen
  (https://www.sqlite.org/wal.html).
* ``synchronous=FULL`` — the WAL is fsynced at every commit, so committed rows survive a
  power cut too, not only a crash (https://www.sqlite.org/pragma.html#pragma_synchronous).
* ``foreign_keys=ON`` and a ``busy_timeout``; the driver's own transaction handling is
  switched off and every write transaction starts with ``BEGIN IMMEDIATE`` (the SQLAlchemy
  "serializable isolation / savepoints" recipe for pysqlite), so a writer waits for the lock
  up to the timeout instead of failing half-way through a transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import URL, Connection, Engine, make_url

from qlight.errors import ParameterError
from qlight.mapping.registry.errors import (
    RegistryCorruptError,
    RegistryError,
    RegistryLockedError,
)

__all__ = ["SQLITE_HEADER", "DatabaseTarget", "connect", "translate_errors"]

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"
_MIGRATIONS = Path(__file__).with_name("migrations")
_CORRUPT = re.compile(r"malformed|not a database|file is encrypted|disk image", re.IGNORECASE)
_LOCKED = re.compile(r"database is locked|database table is locked|busy", re.IGNORECASE)


class DatabaseTarget:
    """A parsed registry location: a SQLAlchemy URL and, for SQLite files, the path."""

    def __init__(self, target: str | Path) -> None:
        text_target = str(target)
        if isinstance(target, Path) or "://" not in text_target:
            self.path: Path | None = Path(text_target)
            self.url: URL = URL.create("sqlite+pysqlite", database=str(self.path))
        else:
            try:
                self.url = make_url(text_target)
            except exc.ArgumentError:
                raise ParameterError("db", text_target, "is not a database URL") from None
            backend = self.url.get_backend_name()
            if backend == "sqlite":
                if not self.url.database or self.url.database == ":memory:":
                    raise ParameterError("db", text_target, "must name a SQLite file")
                self.path = Path(self.url.database)
            elif backend == "postgresql":
                self.path = None
            else:
                raise ParameterError("db", text_target, "must be a sqlite:/// or postgresql URL")

    @property
    def label(self) -> str:
        """The file path, or the URL with its password hidden."""
        return str(self.path) if self.path is not None else self.url.render_as_string()

    @property
    def is_sqlite(self) -> bool:
        """Whether the target is a SQLite file."""
        return self.path is not None


def check_sqlite_file(path: Path, *, create: bool) -> None:
    """Refuse a file that is not a SQLite database; never touch it.

    Raises
    ------
    RegistryCorruptError
        The file exists, is not empty and does not start with the SQLite header.
    RegistryError
        The file does not exist and ``create`` is false, or the path is a folder.
    ParameterError
        The folder that should hold a new database does not exist.
    """
    if path.is_dir():
        raise RegistryError(f"registry {path} is a folder, not a database file")
    if path.exists():
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:  # empty files are new databases
            raise RegistryCorruptError(f"registry {path} is not a SQLite database (bad header)")
        return
    if not create:
        raise RegistryError(f"no registry at {path}")
    if not path.parent.is_dir():
        raise ParameterError("db", str(path), "is in a folder that does not exist")


def _sqlite_engine(target: DatabaseTarget, busy_timeout_s: float) -> Engine:
    engine = create_engine(target.url, connect_args={"timeout": busy_timeout_s})
    busy_ms = max(0, round(busy_timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("qlight_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@contextmanager
def translate_errors(target: DatabaseTarget, busy_timeout_s: float) -> Iterator[None]:
    """Turn driver errors into registry errors that name the database."""
    try:
        yield
    except exc.IntegrityError as err:
        raise RegistryError(f"registry {target.label}: {err.orig}") from err
    except exc.DBAPIError as err:
        msg = str(err.orig)
        if _LOCKED.search(msg):
            raise RegistryLockedError(
                f"registry {target.label} is locked by another connection "
                f"(waited the {busy_timeout_s:g} s busy timeout); nothing was written"
            ) from err
        if _CORRUPT.search(msg):
            raise RegistryCorruptError(f"registry {target.label} is corrupted: {msg}") from err
        raise RegistryError(f"registry {target.label}: {msg}") from err


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest schema revision shipped with this qlight."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, target: DatabaseTarget, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction (no-op when already there)."""
    script = ScriptDirectory.from_config(_alembic_config())
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    if current is not None and current not in {s.revision for s in script.walk_revisions()}:
        raise RegistryError(
            f"registry {target.label} has schema revision {current!r}, newer than this qlight "
            f"knows (head {script.get_current_head()!r}); upgrade qlight"
        )
    wanted = script.get_current_head() if revision == "head" else revision
    if current == wanted:
        return
    cfg = _alembic_config()
    with engine.execution_options(qlight_begin="IMMEDIATE").begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def connect(target: DatabaseTarget, *, busy_timeout_s: float, create: bool) -> Engine:
    """Create the engine, check the database and migrate it to head.

    Raises
    ------
    RegistryCorruptError
        The SQLite file is not a database or fails ``PRAGMA quick_check``.
    RegistryLockedError
        The schema had to be migrated but another connection held the lock.
    """
    if target.path is not None:
        check_sqlite_file(target.path, create=create)
        engine = _sqlite_engine(target, busy_timeout_s)
    else:
        engine = create_engine(target.url, pool_pre_ping=True)
    try:
        with translate_errors(target, busy_timeout_s):
            if target.is_sqlite:
                with engine.connect() as conn:
                    rows = conn.execute(text("PRAGMA quick_check")).scalars().all()
                    conn.rollback()
                if rows != ["ok"]:
                    raise RegistryCorruptError(
                        f"registry {target.label} failed its integrity check: {rows[:3]}"
                    )
            upgrade(engine, target)
    except BaseException:
        engine.dispose()
        raise
    return engine
