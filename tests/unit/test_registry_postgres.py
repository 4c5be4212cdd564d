"""The registry on a real PostgreSQL server (set QLIGHT_TEST_POSTGRES_URL to run).

The URL must name an empty database the test may fill and drop tables in, e.g.
``postgresql+psycopg://qlight:secret@localhost:5432/qlight_test``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit._registry_data import populate

from qlight.mapping.registry import Registry, RegistryError
from qlight.mapping.registry.io import export_json, import_json

_URL = os.environ.get("QLIGHT_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(
    not _URL, reason="QLIGHT_TEST_POSTGRES_URL is not set (no PostgreSQL server to test against)"
)


def _drop_all(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in (
                "events",
                "frame_transforms",
                "observations",
                "emitters",
                "sessions",
                "chips",
                "alembic_version",
            ):
                conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    _drop_all(_URL)
    yield _URL
    _drop_all(_URL)


def test_postgres_round_trip_and_queries(pg_url: str, tmp_path: Path) -> None:
    with Registry.open(pg_url) as reg:
        assert reg.path is None
        populate(reg)
        snap = reg.snapshot()
        assert [e.id for e in reg.best_emitters()] == ["E-0004", "E-0001"]
        assert [o.outcome for o in reg.history("E-0001").observations] == ["verified", "ok"]
        export_json(reg, tmp_path / "pg.json")
        with pytest.raises(RegistryError, match="already exists"):
            import_json(reg, tmp_path / "pg.json")
        assert reg.snapshot() == snap
    _drop_all(pg_url)
    with Registry.open(pg_url) as reg:  # migrated again from scratch, then loaded
        import_json(reg, tmp_path / "pg.json")
        assert reg.snapshot() == snap
        # sequences were advanced past the imported IDs
        assert reg.start_session("GaN-A").id == 3
        assert reg.add_emitter("GaN-A", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1).id == (
            "E-0005"
        )


def test_postgres_schema_matches_the_models(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from qlight.mapping.registry.models import Base

    Registry.open(pg_url).close()
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()
