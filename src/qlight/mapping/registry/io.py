"""Import and export of the registry as JSON (everything) and CSV (the emitter table).

JSON (``export_json``/``import_json``) holds the whole registry — chips, sessions,
emitters, observations, frame transforms and events — with their IDs, so exporting and
importing into an empty registry gives an equal :class:`RegistrySnapshot`. Floats are
written with ``repr`` (shortest round-trip form), datetimes as ISO 8601 UTC.

CSV (``export_csv``/``import_csv``) holds one row per emitter (fingerprint as a JSON
string, empty cell for ``None``): the map in a form a spreadsheet opens. Importing it
creates the chips it names if they are missing; a ``discovered_session_id`` must name a
session of the target registry.

A bad file raises :class:`~qlight.errors.FileFormatError` naming the file and the line
(CSV, JSON syntax) or the field (``emitters[3].x_chip_m``); nothing is written then.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from qlight.errors import FileFormatError, ParameterError
from qlight.mapping.registry._convert import check_covariance, check_json_object, check_status
from qlight.mapping.registry.records import (
    ChipRecord,
    EmitterRecord,
    EventRecord,
    ObservationRecord,
    RegistrySnapshot,
    SessionRecord,
    TransformRecord,
)
from qlight.mapping.registry.store import Registry

__all__ = [
    "FORMAT",
    "export_csv",
    "export_json",
    "import_csv",
    "import_json",
    "read_csv",
    "read_json",
    "record_to_dict",
]

#: Value of the ``format`` key of a registry JSON export.
FORMAT: Final = "qlight-registry"
_VERSION: Final = 1
_RECORDS: Final[dict[str, type[Any]]] = {
    "chips": ChipRecord,
    "sessions": SessionRecord,
    "emitters": EmitterRecord,
    "observations": ObservationRecord,
    "transforms": TransformRecord,
    "events": EventRecord,
}
_CSV_FIELDS: Final = [f.name for f in dataclasses.fields(EmitterRecord)]


class _BadValueError(Exception):
    """A field value that cannot be converted (message says why)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def record_to_dict(rec: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict (datetimes as ISO 8601)."""
    return {f.name: _jsonable(getattr(rec, f.name)) for f in dataclasses.fields(rec)}


def export_json(registry: Registry, path: str | Path) -> int:
    """Write the whole registry to ``path`` as JSON; returns the number of records."""
    snap = registry.snapshot()
    doc: dict[str, Any] = {"format": FORMAT, "version": _VERSION}
    total = 0
    for name in _RECORDS:
        rows = [record_to_dict(r) for r in getattr(snap, name)]
        doc[name] = rows
        total += len(rows)
    _write_text(Path(path), json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return total


def _write_text(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half an export


# ---------------------------------------------------------------------- value parsing
def _parse(value: Any, hint: Any, name: str, *, from_text: bool) -> Any:
    """Convert ``value`` to the type ``hint`` (from JSON, or from a CSV cell if from_text)."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None or (from_text and value == ""):
            return None
        (hint,) = [a for a in args if a is not type(None)]
    if value is None:
        raise _BadValueError("is missing (null)")
    if from_text and value == "" and hint is not str:
        raise _BadValueError("is missing (empty cell)")
    raw = value
    if hint is float:
        if from_text:
            try:
                value = float(value)
            except ValueError:
                raise _BadValueError(f"{value!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadValueError(f"{value!r} is not a number")
        out = float(value)
        if not math.isfinite(out):
            raise _BadValueError(f"{raw!r} is not finite")
        if name.startswith("sigma_") and out <= 0:
            raise _BadValueError(f"{raw!r} must be > 0")
        return out
    if hint is int:
        if from_text:
            try:
                value = int(value)
            except ValueError:
                raise _BadValueError(f"{value!r} is not an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadValueError(f"{value!r} is not an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise _BadValueError(f"{value!r} is not a string")
        if name == "status":
            try:
                check_status(value)
            except ParameterError as exc:
                raise _BadValueError(exc.requirement) from None
        return value
    if hint is datetime:
        if not isinstance(value, str):
            raise _BadValueError(f"{value!r} is not an ISO 8601 time")
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise _BadValueError(f"{value!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise _BadValueError(f"{value!r} has no time zone")
        return when
    if from_text:
        try:
            value = json.loads(value, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise _BadValueError(f"is not valid JSON ({exc})") from None
    try:
        if name == "covariance":
            return check_covariance(value)
        return check_json_object(name, value)
    except ParameterError as exc:
        raise _BadValueError(exc.requirement) from None


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def _record(cls: type[Any], raw: Any, where: str, *, from_text: bool) -> Any:
    if not isinstance(raw, dict):
        raise _BadValueError(f"{where}: must be an object")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(raw) - set(names))
    if extra:
        raise _BadValueError(f"{where}: unknown field {extra[0]!r}")
    values = {}
    for name in names:
        if name not in raw:
            raise _BadValueError(f"{where}.{name}: missing")
        try:
            values[name] = _parse(raw[name], hints[name], name, from_text=from_text)
        except _BadValueError as exc:
            raise _BadValueError(f"{where}.{name}: {exc}") from None
    return cls(**values)


# ---------------------------------------------------------------------- JSON
def read_json(path: str | Path) -> RegistrySnapshot:
    """Parse and validate a registry JSON export (nothing is written)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: cannot read ({exc})") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{p} line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise FileFormatError(f"{p}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileFormatError(
            f"{p}: not a qlight registry export (field 'format' must be {FORMAT!r})"
        )
    if doc.get("version") != _VERSION:
        raise FileFormatError(f"{p}: field 'version' = {doc.get('version')!r}, expected {_VERSION}")
    tables: dict[str, list[Any]] = {}
    try:
        for name, cls in _RECORDS.items():
            rows = doc.get(name, [])
            if not isinstance(rows, list):
                raise _BadValueError(f"{name}: must be a list")
            tables[name] = [
                _record(cls, r, f"{name}[{i}]", from_text=False) for i, r in enumerate(rows)
            ]
    except _BadValueError as exc:
        raise FileFormatError(f"{p}: field {exc}") from None
    return RegistrySnapshot(**tables)


def import_json(registry: Registry, path: str | Path) -> int:
    """Import a JSON export into ``registry`` in one transaction; returns the record count."""
    snap = read_json(path)
    registry.load(snap)
    return sum(len(getattr(snap, name)) for name in _RECORDS)


# ---------------------------------------------------------------------- CSV
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return json.dumps(value, allow_nan=False, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def export_csv(registry: Registry, path: str | Path, *, chip_id: str | None = None) -> int:
    """Write the emitter table (optionally of one chip) as CSV; returns the row count."""
    rows = registry.emitters(chip_id)
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(_CSV_FIELDS)
        for rec in rows:
            writer.writerow([_cell(getattr(rec, f)) for f in _CSV_FIELDS])
    tmp.replace(p)
    return len(rows)


def read_csv(path: str | Path) -> list[EmitterRecord]:
    """Parse and validate an emitter CSV (nothing is written)."""
    return [rec for _, rec in _read_csv_lines(Path(path))]


def _read_csv_lines(p: Path) -> list[tuple[int, EmitterRecord]]:
    out: list[tuple[int, EmitterRecord]] = []
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            if header != _CSV_FIELDS:
                missing = [f for f in _CSV_FIELDS if header is None or f not in header]
                what = f"missing column {missing[0]!r}" if missing else "columns out of order"
                raise FileFormatError(f"{p} line 1: bad header, {what}")
            for row in reader:
                line = reader.line_num
                if len(row) != len(_CSV_FIELDS):
                    raise FileFormatError(
                        f"{p} line {line}: {len(row)} fields, expected {len(_CSV_FIELDS)}"
                    )
                try:
                    cells = dict(zip(_CSV_FIELDS, row, strict=True))
                    rec = _record(EmitterRecord, cells, "emitter", from_text=True)
                except _BadValueError as exc:
                    field = str(exc).removeprefix("emitter.")
                    raise FileFormatError(f"{p} line {line}, field {field}") from None
                out.append((line, rec))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FileFormatError(f"{p}: cannot read as CSV ({exc})") from None
    return out


def import_csv(registry: Registry, path: str | Path) -> int:
    """Import an emitter CSV in one transaction, creating missing chips; returns the row count."""
    p = Path(path)
    lines = _read_csv_lines(p)
    sessions = {s.id for s in registry.sessions()}
    for line, e in lines:
        if e.discovered_session_id is not None and e.discovered_session_id not in sessions:
            raise FileFormatError(
                f"{p} line {line}, field discovered_session_id: session "
                f"{e.discovered_session_id} is not in the registry (import the JSON export)"
            )
    emitters = [e for _, e in lines]
    known = {c.id for c in registry.chips()}
    new_chips: dict[str, ChipRecord] = {}
    for e in emitters:
        if e.chip_id not in known and e.chip_id not in new_chips:
            new_chips[e.chip_id] = ChipRecord(id=e.chip_id, description="", created_at=e.created_at)
    registry.load(RegistrySnapshot(chips=list(new_chips.values()), emitters=emitters))
    return len(emitters)
