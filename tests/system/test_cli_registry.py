"""`qlight registry list|show|export|import` end to end: the installed command in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.system._cli import json_run as _json_run
from tests.system._cli import run_qlight as _run
from tests.unit._registry_data import populate

from qlight.mapping.registry import Registry


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "reg.db"
    with Registry.open(path) as reg:
        populate(reg)
    return path


def test_list_show_export_import_round_trip(db: Path, tmp_path: Path) -> None:
    listed = _json_run(["registry", "list", "--db", str(db)], tmp_path)
    assert [e["id"] for e in listed["emitters"]] == ["E-0001", "E-0002", "E-0003", "E-0004"]
    assert listed["counts"]["observations"] == 2
    assert listed["chips"] == ["GaN-A", "GaN-B"]
    assert listed["emitters"][0]["x_chip_m"] == 12.345678901234e-6

    shown = _json_run(["registry", "show", "E-0001", "--db", str(db)], tmp_path)
    assert shown["emitter"]["fingerprint"]["zpl_nm"] == 611.25
    assert [o["outcome"] for o in shown["observations"]] == ["verified", "ok"]

    exported = _json_run(["registry", "export", "all.json", "--db", str(db)], tmp_path)
    assert exported == {"path": "all.json", "format": "json", "records": 13}
    imported = _json_run(["registry", "import", "all.json", "--db", "copy.db"], tmp_path)
    assert imported["records"] == 13
    with Registry.open(db) as a, Registry.open(tmp_path / "copy.db") as b:
        assert a.snapshot() == b.snapshot()

    csv_out = _json_run(["registry", "export", "e.csv", "--db", f"sqlite:///{db}"], tmp_path)
    assert csv_out["records"] == 4
    assert (tmp_path / "e.csv").read_text().startswith("id,chip_id,x_chip_m")


def test_table_output(db: Path, tmp_path: Path) -> None:
    proc = _run(["registry", "list", "--db", str(db)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "E-0004" in proc.stdout
    assert "bleached" in proc.stdout
    proc = _run(["registry", "show", "E-0002", "--db", str(db)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no counts above background" in proc.stdout


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["registry", "show", "E-9999", "--db", "reg.db"], "error: no emitter 'E-9999'"),
        (["registry", "list", "--db", "missing.db"], "error: no registry at missing.db"),
        (["registry", "list", "--db", "reg.db", "--status", "lost"], "error: --status='lost'"),
        (["registry", "list", "--db", "notes.txt"], "error: registry notes.txt is not a SQLite"),
        (["registry", "export", "out.txt", "--db", "reg.db"], "error: OUT='out.txt'"),
        (["registry", "import", "bad.json", "--db", "new.db"], "error: bad.json line 1 column"),
        (["registry", "import", "bad.csv", "--db", "new.db"], "error: bad.csv line 2, field"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    db: Path, tmp_path: Path, args: list[str], start: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a database at all, just text\n")
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.csv").write_text(
        "id,chip_id,x_chip_m,y_chip_m,z_chip_m,sigma_x_m,sigma_y_m,sigma_z_m,fingerprint,"
        "quality_score,status,discovered_session_id,created_at,updated_at\n"
        "E-1,C,abc,0,0,1,1,,{},,active,,2026-01-01T00:00:00+00:00,2026-01-01T00:00:00+00:00\n"
    )
    proc = _run([*args, "--json"], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(start), lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "new.db").exists()  # a bad import file never creates a database
    assert not (tmp_path / "missing.db").exists()
