"""The Registry API: stable IDs, queries, history, validation, transactions."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit._registry_data import populate

from qlight.errors import ParameterError
from qlight.mapping.registry import (
    Registry,
    RegistryError,
    UnknownRecordError,
)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    r = Registry.open(tmp_path / "r.db")
    populate(r)
    yield r
    r.close()


def test_ids_are_sequential_and_stable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ids.db"
    with Registry.open(path) as r:
        r.add_chip("C")
        ids = [
            r.add_emitter("C", x_chip_m=i * 1e-6, y_chip_m=0, sigma_x_m=1e-9, sigma_y_m=1e-9).id
            for i in range(3)
        ]
    assert ids == ["E-0001", "E-0002", "E-0003"]
    with Registry.open(f"sqlite:///{path}") as r:
        assert [e.id for e in r.emitters()] == ids
        assert r.emitter("E-0002").x_chip_m == 1e-6
        assert r.add_emitter("C", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1).id == "E-0004"
        # a caller-chosen ID (e.g. a UUID) is kept; a duplicate is refused
        u = r.add_emitter(
            "C", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1, emitter_id="5f0c-uuid"
        )
        assert u.id == "5f0c-uuid"
        with pytest.raises(RegistryError, match="5f0c-uuid already exists"):
            r.add_emitter("C", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1, emitter_id=u.id)


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Registry.open(path, busy_timeout_s=2.5) as r:
        with r._read() as s:  # the registry's own connections
            assert s.connection().exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert s.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
            assert s.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert r.path == path
        assert r.url.startswith("sqlite+pysqlite:///")
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0002"
    finally:
        con.close()


def test_best_emitters_are_active_scored_and_ordered(reg: Registry) -> None:
    assert [e.id for e in reg.best_emitters()] == ["E-0004", "E-0001"]  # E-0002 bleached
    assert [e.id for e in reg.best_emitters("GaN-A")] == ["E-0001"]
    assert reg.best_emitters("GaN-A", min_score=0.95) == []
    assert [e.id for e in reg.best_emitters(limit=1)] == ["E-0004"]
    reg.set_status("E-0002", "active", reason="came back")
    assert [e.id for e in reg.best_emitters("GaN-A")] == ["E-0001", "E-0002"]
    with pytest.raises(ParameterError, match="limit"):
        reg.best_emitters(limit=-1)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    # one registry for the property test; each example uses a chip of its own
    r = Registry.open(tmp_path_factory.mktemp("shared") / "h.db")
    yield r
    r.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-1, 1, allow_nan=False)),
            st.sampled_from(["active", "bleached", "retired"]),
        ),
        max_size=12,
    )
)
def test_best_emitters_equal_a_plain_sort(
    shared: Registry, spec: list[tuple[float | None, str]]
) -> None:
    # oracle: filter active + scored, sort by (-score, id) in Python
    r = shared
    chip = f"C{len(r.chips())}"
    r.add_chip(chip)
    for score, status in spec:
        r.add_emitter(
            chip,
            x_chip_m=0,
            y_chip_m=0,
            sigma_x_m=1e-9,
            sigma_y_m=1e-9,
            quality_score=score,
            status=status,
        )
    want = sorted(
        (e for e in r.emitters(chip) if e.status == "active" and e.quality_score is not None),
        key=lambda e: (-(e.quality_score or 0.0), e.id),
    )
    assert r.best_emitters(chip) == want


def test_history_holds_observations_and_events_in_order(reg: Registry) -> None:
    h = reg.history("E-0001")
    assert [o.outcome for o in h.observations] == ["verified", "ok"]
    assert h.observations[0].g2_0 == 0.12
    assert h.observations[0].x_stage_m == 1.1e-3
    assert h.emitter.fingerprint["neighbours_m"] == [[2.1e-6, 0.5]]
    bleached = reg.history("E-0002")
    assert bleached.emitter.status == "bleached"
    assert [(e.kind, e.message, e.data) for e in bleached.events] == [
        ("status", "no counts above background", {"from": "active", "to": "bleached"})
    ]
    assert bleached.events[0].session_id == 2
    assert [e.kind for e in reg.events(session_id=2)] == ["status", "skipped"]


def test_sessions_and_transforms(reg: Registry) -> None:
    sessions = reg.sessions("GaN-A")
    assert [s.kind for s in sessions] == ["discovery", "return"]
    assert sessions[0].started_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert sessions[0].ended_at is None
    assert sessions[1].ended_at is not None
    assert sessions[1].ended_at.tzinfo is not None
    t = reg.latest_transform("GaN-A")
    assert t is not None
    assert (t.tx_m, t.ty_m, t.rotation_rad, t.scale, t.n_matches) == (
        3.1e-5,
        -1.2e-5,
        0.01,
        1.0001,
        12,
    )
    assert t.covariance is not None
    assert t.covariance[2][2] == 1e-18
    assert reg.latest_transform("GaN-B") is None
    assert reg.transforms(session_id=2) == []


def test_update_changes_only_given_fields(reg: Registry) -> None:
    before = reg.emitter("E-0001")
    after = reg.update_emitter("E-0001", x_chip_m=7e-6, quality_score=None)
    assert after.x_chip_m == 7e-6
    assert after.quality_score is None
    assert after.y_chip_m == before.y_chip_m
    assert after.fingerprint == before.fingerprint
    assert after.updated_at >= before.updated_at
    assert reg.emitter("E-0001") == after


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"x_chip_m": math.nan}, "x_chip_m"),
        ({"y_chip_m": math.inf}, "y_chip_m"),
        ({"sigma_x_m": 0.0}, "sigma_x_m"),
        ({"sigma_y_m": -1e-9}, "sigma_y_m"),
        ({"sigma_z_m": 0.0}, "sigma_z_m"),
        ({"status": "lost"}, "status"),
        ({"fingerprint": {"a": math.nan}}, "fingerprint"),
        ({"fingerprint": {1: 2}}, "fingerprint"),
        ({"fingerprint": [1]}, "fingerprint"),
        ({"quality_score": "high"}, "quality_score"),
    ],
)
def test_bad_emitter_values_name_the_parameter_and_write_nothing(
    reg: Registry, kwargs: dict[str, object], name: str
) -> None:
    base: dict[str, object] = {
        "x_chip_m": 0.0,
        "y_chip_m": 0.0,
        "sigma_x_m": 1e-9,
        "sigma_y_m": 1e-9,
    }
    before = reg.counts()
    with pytest.raises(ParameterError) as info:
        reg.add_emitter("GaN-A", **{**base, **kwargs})  # type: ignore[arg-type]
    assert info.value.name == name
    assert reg.counts() == before


def test_unknown_records_are_named(reg: Registry) -> None:
    with pytest.raises(UnknownRecordError, match="no emitter 'E-9999'"):
        reg.emitter("E-9999")
    with pytest.raises(UnknownRecordError, match="no chip 'nope'"):
        reg.add_emitter("nope", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1)
    with pytest.raises(UnknownRecordError, match="no session 99"):
        reg.record_observation("E-0001", session_id=99)
    with pytest.raises(UnknownRecordError, match="no session 99"):
        reg.record_transform(99, tx_m=0, ty_m=0, rotation_rad=0, method="marks")
    with pytest.raises(ParameterError, match="covariance"):
        reg.record_transform(1, tx_m=0, ty_m=0, rotation_rad=0, method="m", covariance=[[1.0]])
    with pytest.raises(ParameterError, match="observed_at"):
        reg.record_observation("E-0001", observed_at=datetime(2026, 1, 1))  # naive time


def test_a_failing_write_rolls_back_entirely(reg: Registry) -> None:
    # set_status writes the emitter and an event in one transaction; an unknown session makes
    # the event's foreign key fail at commit, and neither row may change.
    before = reg.snapshot()
    with pytest.raises(RegistryError, match="FOREIGN KEY"):
        reg.set_status("E-0001", "retired", reason="x", session_id=42)
    assert reg.snapshot() == before


def test_add_chip_is_idempotent_and_closed_registry_refuses(tmp_path: Path) -> None:
    r = Registry.open(tmp_path / "c.db")
    first = r.add_chip("C", description="one")
    assert r.add_chip("C", description="other") == first
    r.close()
    r.close()
    with pytest.raises(RegistryError, match="closed"):
        r.chips()


def test_open_refuses_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no registry at"):
        Registry.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(ParameterError, match="folder that does not exist"):
        Registry.open(tmp_path / "no" / "r.db")
    with pytest.raises(ParameterError, match="db"):
        Registry.open("mysql://localhost/x")
    with pytest.raises(ParameterError, match="busy_timeout_s"):
        Registry.open(tmp_path / "x.db", busy_timeout_s=0)
    with pytest.raises(RegistryError, match="is a folder"):
        Registry.open(tmp_path)


def test_two_writers_get_distinct_ids(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE serialises ID allocation: two registries on one file, writing from two
    # threads at once, never hand out the same ID and never lose a row
    import threading

    path = tmp_path / "two.db"
    with Registry.open(path) as r:
        r.add_chip("C")
    regs = [Registry.open(path), Registry.open(path)]
    errors: list[BaseException] = []

    def work(r: Registry) -> None:
        try:
            for _ in range(15):
                r.add_emitter("C", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in regs:
        r.close()
    assert errors == []
    with Registry.open(path) as r:
        assert [e.id for e in r.emitters()] == [f"E-{i:04d}" for i in range(1, 31)]
