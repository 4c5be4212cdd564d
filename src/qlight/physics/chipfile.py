"""Chip files: versioned, checksummed JSON holding one :class:`~qlight.physics.chip.Chip`.

Layout (format version 1)::

    {"format": "qlight-chip", "format_version": 1, "sha256": "<hex>", "payload": {...}}

``sha256`` is the digest of the payload serialised canonically (sorted keys, no spaces), so a
flipped digit anywhere is caught. Floats are written with ``repr`` (exact round trip);
non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"``. Every problem on reading
raises :class:`~qlight.errors.FileFormatError` naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from qlight.errors import FileFormatError, ParameterError
from qlight.physics.chip import (
    BackgroundField,
    BackgroundSpot,
    Chip,
    ChipEmitter,
    FiducialMark,
    StructureSite,
)
from qlight.physics.chipconfig import ChipConfig
from qlight.physics.emitter import Blinking, EmitterPhotophysics
from qlight.physics.marks import MarkLayout

__all__ = ["FORMAT", "FORMAT_VERSION", "load_chip", "save_chip"]

FORMAT = "qlight-chip"
FORMAT_VERSION = 1

#: Dataclass-typed fields, decoded recursively (``None`` allowed where the field is optional).
_NESTED: dict[tuple[type[Any], str], type[Any]] = {
    (ChipConfig, "marks"): MarkLayout,
    (EmitterPhotophysics, "blinking"): Blinking,
    (ChipEmitter, "photophysics"): EmitterPhotophysics,
    (Chip, "config"): ChipConfig,
    (Chip, "background"): BackgroundField,
}
_SEQUENCES: dict[str, type[Any]] = {
    "emitters": ChipEmitter,
    "spots": BackgroundSpot,
    "marks": FiducialMark,
    "structure_sites": StructureSite,
}


def _encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, tuple | list):
        return [_encode(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    return obj


def _canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def save_chip(chip: Chip, path: str | Path) -> None:
    """Write ``chip`` to ``path`` (atomically: a temporary file is renamed into place)."""
    payload = _encode(chip)
    digest = hashlib.sha256(_canonical(payload)).hexdigest()
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "sha256": digest, "payload": payload}
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(doc, allow_nan=False), encoding="utf-8")
    os.replace(tmp, target)


def load_chip(path: str | Path) -> Chip:
    """Read a chip written by :func:`save_chip`.

    Raises
    ------
    FileFormatError
        If the file is not UTF-8 JSON (e.g. truncated), not a qlight chip file, of another
        format version, fails its checksum, or holds missing, unknown or invalid fields.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{p}: not UTF-8 text ({exc.reason})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{p}: truncated or not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileFormatError(f"{p}: not a qlight chip file (no 'format': {FORMAT!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise FileFormatError(
            f"{p}: chip file format version {version!r} is not supported"
            f" (expected {FORMAT_VERSION})"
        )
    payload = doc.get("payload")
    digest = doc.get("sha256")
    if not isinstance(payload, dict) or not isinstance(digest, str):
        raise FileFormatError(f"{p}: missing 'payload' or 'sha256'")
    try:
        actual = hashlib.sha256(_canonical(payload)).hexdigest()
    except ValueError as exc:
        raise FileFormatError(f"{p}: payload holds non-JSON values ({exc})") from None
    if actual != digest:
        raise FileFormatError(f"{p}: checksum mismatch, the contents are corrupted")
    try:
        chip = _decode(Chip, payload, "payload")
    except FileFormatError as exc:
        raise FileFormatError(f"{p}: {exc}") from None
    except (ParameterError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{p}: invalid chip data ({exc})") from None
    if not isinstance(chip, Chip):  # pragma: no cover - _decode(Chip, ...) returns a Chip
        raise FileFormatError(f"{p}: payload is not a chip")
    return chip


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return tuple(_plain(v, where) for v in value)
    if isinstance(value, str):
        if value in ("inf", "-inf", "nan"):
            return float(value)
        raise FileFormatError(f"unexpected string {value!r} at {where}")
    if isinstance(value, dict):
        raise FileFormatError(f"unexpected object at {where}")
    return value


def _decode(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise FileFormatError(f"{where}: expected an object for {cls.__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = set(data) - set(names)
    if unknown:
        raise FileFormatError(f"{where}: unknown field(s) {sorted(unknown)} for {cls.__name__}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in data:
            raise FileFormatError(f"{where}: missing field {name!r} of {cls.__name__}")
        value = data[name]
        sub = f"{where}.{name}"
        nested = _NESTED.get((cls, name))
        if nested is not None:
            kwargs[name] = None if value is None else _decode(nested, value, sub)
        elif cls is Chip and name in _SEQUENCES:
            if not isinstance(value, list):
                raise FileFormatError(f"{sub}: expected a list")
            item = _SEQUENCES[name]
            kwargs[name] = tuple(_decode(item, v, f"{sub}[{i}]") for i, v in enumerate(value))
        else:
            kwargs[name] = _plain(value, sub)
    return cls(**kwargs)
