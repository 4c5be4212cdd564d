"""Registry import/export: JSON and CSV round trips, bad files named by line and field."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit._registry_data import populate

from qlight.errors import FileFormatError
from qlight.mapping.registry import Registry, RegistryError
from qlight.mapping.registry.io import (
    export_csv,
    export_json,
    import_csv,
    import_json,
    read_csv,
)


@pytest.fixture
def source(tmp_path: Path) -> Registry:
    r = Registry.open(tmp_path / "src.db")
    populate(r)
    return r


def test_json_round_trip_is_equal(source: Registry, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    n = export_json(source, out)
    snap = source.snapshot()
    assert n == sum(source.counts().values()) == 13
    with Registry.open(tmp_path / "dst.db") as dst:
        assert import_json(dst, out) == n
        assert dst.snapshot() == snap
        # IDs continue after the imported ones
        assert dst.add_emitter("GaN-A", x_chip_m=0, y_chip_m=0, sigma_x_m=1, sigma_y_m=1).id == (
            "E-0005"
        )
        assert dst.start_session("GaN-A").id == 3
        # importing the same file again conflicts, and writes nothing
        before = dst.snapshot()
        with pytest.raises(RegistryError, match="chip 'GaN-A' already exists"):
            import_json(dst, out)
        assert dst.snapshot() == before
    source.close()


def test_csv_into_a_registry_without_the_session_names_the_line(
    source: Registry, tmp_path: Path
) -> None:
    # the CSV holds emitters only: E-0001 (line 2) names discovery session 1, which an
    # empty registry lacks; nothing may be written
    out = tmp_path / "e.csv"
    assert export_csv(source, out) == 4
    source.close()
    with Registry.open(tmp_path / "dst.db") as dst:
        with pytest.raises(
            FileFormatError, match=r"line 2, field discovered_session_id: session 1 is not"
        ):
            import_csv(dst, out)
        assert sum(dst.counts().values()) == 0


def test_csv_round_trip_is_equal(source: Registry, tmp_path: Path) -> None:
    snap = source.snapshot()
    jpath, cpath = tmp_path / "all.json", tmp_path / "e.csv"
    export_json(source, jpath)
    export_csv(source, cpath)
    doc = json.loads(jpath.read_text())
    doc["emitters"], doc["observations"], doc["events"] = [], [], []
    jpath.write_text(json.dumps(doc))
    with Registry.open(tmp_path / "dst.db") as dst:
        import_json(dst, jpath)  # chips, sessions, transforms
        assert import_csv(dst, cpath) == 4
        assert dst.emitters() == snap.emitters
    source.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    # one registry for the property test; each example adds one emitter and exports it
    d = tmp_path_factory.mktemp("csv")
    r = Registry.open(d / "a.db")
    r.add_chip("C")
    yield r, d
    r.close()


@settings(max_examples=40, deadline=None)
@given(
    x=st.floats(allow_nan=False, allow_infinity=False),
    sigma=st.floats(min_value=1e-300, max_value=1e300),
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    fp=st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5))),
)
def test_csv_floats_and_fingerprints_round_trip_exactly(
    shared: tuple[Registry, Path],
    x: float,
    sigma: float,
    score: float | None,
    fp: dict[str, object],
) -> None:
    a, d = shared
    e = a.add_emitter(
        "C",
        x_chip_m=x,
        y_chip_m=-x,
        sigma_x_m=sigma,
        sigma_y_m=sigma,
        quality_score=score,
        fingerprint=fp,
    )
    export_csv(a, d / "e.csv")
    back = read_csv(d / "e.csv")
    assert back == a.emitters()
    assert back[-1] == e


def _csv_lines(source: Registry, tmp_path: Path) -> list[str]:
    out = tmp_path / "ok.csv"
    export_csv(source, out)
    source.close()
    return out.read_text().splitlines()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("x_chip_m", "abc", r"line 3, field x_chip_m: 'abc' is not a number"),
        ("x_chip_m", "nan", r"line 3, field x_chip_m: 'nan' is not finite"),
        ("sigma_y_m", "0", r"line 3, field sigma_y_m: '0' must be > 0"),
        ("y_chip_m", "", r"line 3, field y_chip_m: is missing"),
        ("status", "lost", r"line 3, field status: must be one of"),
        ("fingerprint", "{bad", r"line 3, field fingerprint: is not valid JSON"),
        ("created_at", "yesterday", r"line 3, field created_at: 'yesterday' is not an ISO"),
        ("created_at", "2026-01-01T00:00:00", r"line 3, field created_at: .* no time zone"),
        ("discovered_session_id", "1.5", r"line 3, field discovered_session_id: .* integer"),
    ],
)
def test_bad_csv_cell_names_line_and_field(
    source: Registry, tmp_path: Path, column: str, value: str, message: str
) -> None:
    lines = _csv_lines(source, tmp_path)
    header = lines[0].split(",")
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    rows[2][header.index(column)] = value
    bad = tmp_path / "bad.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    bad.write_text(buf.getvalue())
    with Registry.open(tmp_path / "dst.db") as dst:
        with pytest.raises(FileFormatError, match=message) as info:
            import_csv(dst, bad)
        assert str(bad) in str(info.value)
        assert dst.counts()["emitters"] == 0


def test_bad_csv_shape(source: Registry, tmp_path: Path) -> None:
    lines = _csv_lines(source, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1], "E-0099,GaN-A,1.0"]) + "\n")
    with pytest.raises(FileFormatError, match=r"line 3: 3 fields, expected 14"):
        read_csv(bad)
    bad.write_text(lines[0].replace("x_chip_m", "x_um") + "\n")
    with pytest.raises(FileFormatError, match=r"line 1: bad header, missing column 'x_chip_m'"):
        read_csv(bad)
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FileFormatError, match="cannot read"):
        read_csv(bad)


def _json_doc(source: Registry, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "ok.json"
    export_json(source, out)
    source.close()
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("emitters", 2, "x_chip_m"),
            "1e-6",
            r"field emitters\[2\]\.x_chip_m: '1e-6' is not a number",
        ),
        (("emitters", 0, "sigma_x_m"), -1.0, r"emitters\[0\]\.sigma_x_m: -1.0 must be > 0"),
        (("emitters", 1, "status"), "gone", r"emitters\[1\]\.status: must be one of"),
        (
            ("observations", 0, "session_id"),
            "1",
            r"observations\[0\]\.session_id: '1' is not an integer",
        ),
        (("transforms", 0, "covariance"), [[1.0]], r"transforms\[0\]\.covariance: must be a 4x4"),
        (("events", 0, "data"), [1], r"events\[0\]\.data: must be a JSON object"),
        (("sessions", 0, "started_at"), 5, r"sessions\[0\]\.started_at: 5 is not an ISO"),
        (("chips", 0, "colour"), "red", r"chips\[0\]: unknown field 'colour'"),
        (
            ("emitters", 0, "quality_score"),
            True,
            r"emitters\[0\]\.quality_score: True is not a number",
        ),
    ],
)
def test_bad_json_field_is_named(
    source: Registry, tmp_path: Path, path: tuple[str, int, str], value: object, message: str
) -> None:
    doc = _json_doc(source, tmp_path)
    table, index, field = path
    doc[table][index][field] = value  # type: ignore[index]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with Registry.open(tmp_path / "dst.db") as dst:
        with pytest.raises(FileFormatError, match=message):
            import_json(dst, bad)
        assert sum(dst.counts().values()) == 0


def test_bad_json_syntax_and_header(source: Registry, tmp_path: Path) -> None:
    doc = _json_doc(source, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n "format": "qlight-registry",\n "version": 1,\n "chips": [,]\n}\n')
    with Registry.open(tmp_path / "dst.db") as dst:
        with pytest.raises(FileFormatError, match=r"bad\.json line 4 column 12"):
            import_json(dst, bad)
        bad.write_text(json.dumps({**doc, "format": "other"}))
        with pytest.raises(FileFormatError, match="not a qlight registry export"):
            import_json(dst, bad)
        bad.write_text(json.dumps({**doc, "version": 2}))
        with pytest.raises(FileFormatError, match="'version' = 2"):
            import_json(dst, bad)
        bad.write_text(json.dumps(doc).replace("0.91", "NaN"))
        with pytest.raises(FileFormatError, match="NaN is not allowed"):
            import_json(dst, bad)
        with pytest.raises(FileFormatError, match="cannot read"):
            import_json(dst, tmp_path / "missing.json")
        assert sum(dst.counts().values()) == 0
