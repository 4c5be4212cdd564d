"""Alembic migrations shipped in the package: v1 databases are brought to head at open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import qlight.mapping.registry as registry_pkg
from qlight.mapping.registry import Registry, RegistryError
from qlight.mapping.registry.models import Base

_SCRIPTS = Path(registry_pkg.__file__).with_name("migrations")


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _make_v1(path: Path) -> None:
    """A database at revision 0001 (no events table, no observations.outcome) with data."""
    command.upgrade(_alembic(f"sqlite:///{path}"), "0001")
    con = sqlite3.connect(path)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(observations)")]
        assert "outcome" not in cols
        assert con.execute("SELECT name FROM sqlite_master WHERE name='events'").fetchone() is None
        con.executescript(
            """
            INSERT INTO chips VALUES ('OLD', 'v1 chip', '2025-05-01 10:00:00');
            INSERT INTO sessions VALUES (1, 'OLD', 'discovery', '2025-05-01 10:00:00', NULL, '');
            INSERT INTO emitters VALUES ('E-0007', 'OLD', 1e-6, 2e-6, 0.0, 5e-9, 6e-9, NULL,
                '{"zpl_nm": 600.0}', 0.8, 'active', 1,
                '2025-05-01 10:00:00', '2025-05-01 10:00:00');
            INSERT INTO observations VALUES (1, 'E-0007', 1, '2025-05-01 10:01:00',
                1e-3, 2e-3, 0.0, 1e-6, 2e-6, 5e-9, 6e-9, 1.2e5, 0.1);
            """
        )
        con.commit()
    finally:
        con.close()


def test_open_upgrades_a_v1_database_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _make_v1(path)
    with Registry.open(path) as reg:
        e = reg.emitter("E-0007")
        assert (e.x_chip_m, e.sigma_y_m, e.fingerprint, e.quality_score) == (
            1e-6,
            6e-9,
            {"zpl_nm": 600.0},
            0.8,
        )
        (obs,) = reg.history("E-0007").observations
        assert obs.outcome == "ok"  # the default revision 0002 gives existing rows
        assert obs.count_rate_per_s == 1.2e5
        # the new table works, and new emitters continue the numbering
        reg.record_event("note", "upgraded", emitter_id="E-0007")
        assert reg.add_emitter("OLD", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1).id == (
            "E-0008"
        )
        assert reg.integrity_check() == ["ok"]
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0002"
    finally:
        con.close()


def test_models_match_the_head_migration(tmp_path: Path) -> None:
    # autogenerate's diff between the migrated schema and the ORM models must be empty
    path = tmp_path / "head.db"
    Registry.open(path).close()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_v1_and_back(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    Registry.open(path).close()
    cfg = _alembic(f"sqlite:///{path}")
    command.downgrade(cfg, "0001")
    with Registry.open(path) as reg:  # back to head
        assert reg.counts()["events"] == 0


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Registry.open(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num='9999'")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="'9999', newer than this qlight"):
        Registry.open(path)
    assert path.read_bytes() == before
