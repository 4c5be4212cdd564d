"""PicoQuant PTU header: tag types, record types, tag parsing and tag encoding.

A PTU file starts with the 8-byte magic ``PQTTTR\\0\\0`` and an 8-byte format version, then
tag records of 48 bytes (32-byte ASCII identifier, int32 index, uint32 type code, 8-byte value)
until the tag ``Header_End``; variable-length tags (strings, arrays, blobs) hold their byte
length in the value field and their data right after the tag record. The 32-bit TTTR records
follow the header.

References
----------
PicoQuant, "PicoQuant Time-Tagged File Format Demos", ``PTU/Python/Read_PTU.py`` (tag type
codes, record type codes, TDateTime epoch) and the format documentation in its ``doc`` folder.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Literal

import numpy as np

from qlight.errors import FileFormatError
from qlight.timetags.io._ptu_records import HH1_T2, HH1_T3, HH2_T2, HH2_T3, PH_T2, PH_T3

__all__ = [
    "MAGIC",
    "RECORD_TYPES",
    "TAG_TYPES",
    "ParsedHeader",
    "RecordType",
    "encode_tag",
    "parse_header",
]

MAGIC = b"PQTTTR\0\0"

TY_EMPTY8 = 0xFFFF0008
TY_BOOL8 = 0x00000008
TY_INT8 = 0x10000008
TY_BITSET64 = 0x11000008
TY_COLOR8 = 0x12000008
TY_FLOAT8 = 0x20000008
TY_TDATETIME = 0x21000008
TY_FLOAT8ARRAY = 0x2001FFFF
TY_ANSISTRING = 0x4001FFFF
TY_WIDESTRING = 0x4002FFFF
TY_BINARYBLOB = 0xFFFFFFFF

#: Tag type code -> name (PicoQuant ``Read_PTU.py``).
TAG_TYPES = {
    TY_EMPTY8: "Empty8",
    TY_BOOL8: "Bool8",
    TY_INT8: "Int8",
    TY_BITSET64: "BitSet64",
    TY_COLOR8: "Color8",
    TY_FLOAT8: "Float8",
    TY_TDATETIME: "TDateTime",
    TY_FLOAT8ARRAY: "Float8Array",
    TY_ANSISTRING: "AnsiString",
    TY_WIDESTRING: "WideString",
    TY_BINARYBLOB: "BinaryBlob",
}

#: TDateTime counts days since 1899-12-30 (the Delphi/OLE epoch).
_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_TAG = struct.Struct("<32siI8s")
_MAX_VARLEN = 1 << 28  # no PTU header tag holds 256 MiB; larger lengths are corruption


@dataclass(frozen=True)
class RecordType:
    """One TTTR record type: its code's name, instrument, mode and decoder layout."""

    code: int
    name: str
    instrument: str
    mode: Literal["T2", "T3"]
    layout: int


#: ``TTResultFormat_TTTRRecType`` codes (PicoQuant ``Read_PTU.py``). The MultiHarp codes are
#: the "generic" T2/T3 formats, which the PicoHarp 330 also writes; the reader then takes the
#: instrument name from the ``HW_Type`` tag.
RECORD_TYPES = {
    r.code: r
    for r in (
        RecordType(0x00010203, "PicoHarpT2", "PicoHarp 300", "T2", PH_T2),
        RecordType(0x00010303, "PicoHarpT3", "PicoHarp 300", "T3", PH_T3),
        RecordType(0x00010204, "HydraHarpT2", "HydraHarp 400", "T2", HH1_T2),
        RecordType(0x00010304, "HydraHarpT3", "HydraHarp 400", "T3", HH1_T3),
        RecordType(0x01010204, "HydraHarp2T2", "HydraHarp 400", "T2", HH2_T2),
        RecordType(0x01010304, "HydraHarp2T3", "HydraHarp 400", "T3", HH2_T3),
        RecordType(0x00010205, "TimeHarp260NT2", "TimeHarp 260 N", "T2", HH2_T2),
        RecordType(0x00010305, "TimeHarp260NT3", "TimeHarp 260 N", "T3", HH2_T3),
        RecordType(0x00010206, "TimeHarp260PT2", "TimeHarp 260 P", "T2", HH2_T2),
        RecordType(0x00010306, "TimeHarp260PT3", "TimeHarp 260 P", "T3", HH2_T3),
        RecordType(0x00010207, "MultiHarpT2", "MultiHarp", "T2", HH2_T2),
        RecordType(0x00010307, "MultiHarpT3", "MultiHarp", "T3", HH2_T3),
    )
}


@dataclass(frozen=True)
class ParsedHeader:
    """What :func:`parse_header` found: version, typed tags, value offsets, data offset."""

    version: str
    tags: dict[str, object]
    value_offsets: dict[str, int]
    tag_types: dict[str, str]
    data_offset: int


def _bad(path: str, offset: int, what: str) -> FileFormatError:
    return FileFormatError(f"{path}: {what} at byte offset {offset}")


def _read_exact(f: BinaryIO, n: int, path: str, offset: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _bad(path, offset, f"truncated header: {what} needs {n} bytes, file has {len(data)}")
    return data


def _cstring(raw: bytes, encoding: str) -> str:
    text = raw.decode(encoding, errors="replace")
    cut = text.find("\0")
    return text if cut < 0 else text[:cut]


def _tdatetime(days: float, path: str, offset: int) -> datetime:
    try:
        if not math.isfinite(days):
            raise ValueError(days)
        return _EPOCH + timedelta(days=days)
    except (OverflowError, ValueError):
        raise _bad(path, offset, f"invalid TDateTime value {days!r}") from None


def _value(f: BinaryIO, typ: int, raw: bytes, path: str, offset: int, size: int) -> object:
    """Decode one tag value; ``offset`` is the byte offset of the value field."""
    (as_int,) = struct.unpack("<q", raw)
    (as_float,) = struct.unpack("<d", raw)
    if typ == TY_EMPTY8:
        return None
    if typ == TY_BOOL8:
        return as_int != 0
    if typ in (TY_INT8, TY_BITSET64, TY_COLOR8):
        return as_int
    if typ == TY_FLOAT8:
        return as_float
    if typ == TY_TDATETIME:
        return _tdatetime(as_float, path, offset)
    # variable-length types: the value field is the byte length of the data that follows
    if as_int < 0 or as_int > min(_MAX_VARLEN, size - offset - 8):
        raise _bad(path, offset, f"tag data length {as_int} outside the file")
    data = _read_exact(f, as_int, path, offset + 8, "tag data")
    if typ == TY_FLOAT8ARRAY:
        if as_int % 8:
            raise _bad(path, offset, f"Float8Array length {as_int} not a multiple of 8")
        return np.frombuffer(data, "<f8").astype(np.float64)
    if typ == TY_ANSISTRING:
        return _cstring(data, "cp1252")
    if typ == TY_WIDESTRING:
        return _cstring(data[: as_int - as_int % 2], "utf-16-le")
    if typ == TY_BINARYBLOB:
        return data
    raise _bad(path, offset - 4, f"unknown tag type 0x{typ:08X}")


def _collect_indexed(indexed: dict[str, dict[int, object]], tags: dict[str, object]) -> None:
    """Indexed tags become lists when their indices are 0..n-1, else {index: value} dicts."""
    for name, items in indexed.items():
        keys = sorted(items)
        if keys == list(range(len(keys))):
            tags[name] = [items[k] for k in keys]
        else:
            tags[name] = {k: items[k] for k in keys}


def parse_header(f: BinaryIO, path: str, size: int) -> ParsedHeader:
    """Parse the header of an open PTU file positioned at byte 0.

    Parameters
    ----------
    f : binary file
        The file, positioned at its start.
    path : str
        Its name, for error messages.
    size : int
        Its size in bytes.

    Returns
    -------
    ParsedHeader
        Typed tags (indexed tags as lists or ``{index: value}``), value byte offsets of the
        scalar tags, tag type names and the byte offset of the first record.

    Raises
    ------
    FileFormatError
        Wrong magic, a truncated header, an unknown tag type or an impossible tag length, each
        with the byte offset.
    """
    magic = f.read(8)
    if magic != MAGIC:
        raise _bad(path, 0, f"not a PTU file (magic {magic!r}, expected {MAGIC!r})")
    version = _cstring(_read_exact(f, 8, path, 8, "format version"), "ascii").strip()
    tags: dict[str, object] = {}
    indexed: dict[str, dict[int, object]] = {}
    offsets: dict[str, int] = {}
    types: dict[str, str] = {}
    offset = 16
    while True:
        raw = _read_exact(f, _TAG.size, path, offset, "tag record")
        ident_b, idx, typ, value_raw = _TAG.unpack(raw)
        ident = _cstring(ident_b, "ascii")
        if typ not in TAG_TYPES:
            raise _bad(path, offset + 36, f"unknown tag type 0x{typ:08X} of tag {ident!r}")
        value = _value(f, typ, value_raw, path, offset + 40, size)
        types[ident] = TAG_TYPES[typ]
        if idx >= 0:
            indexed.setdefault(ident, {})[idx] = value
        else:
            tags[ident] = value
            offsets[ident] = offset + 40
        offset = f.tell()
        if ident == "Header_End":
            break
    _collect_indexed(indexed, tags)
    return ParsedHeader(version, tags, offsets, types, offset)


def encode_tag(ident: str, value: object, *, typ: str, index: int = -1) -> bytes:
    """Encode one tag record (and its data for variable-length types).

    Parameters
    ----------
    ident : str
        Tag identifier (at most 31 ASCII characters).
    value : object
        The value: ``None`` (Empty8), bool, int, float, :class:`datetime` (TDateTime), str
        (AnsiString/WideString), float array or bytes.
    typ : str
        Tag type name (a value of :data:`TAG_TYPES`).
    index : int, optional
        Tag index (-1 for a scalar tag).
    """
    code = {v: k for k, v in TAG_TYPES.items()}[typ]
    head = struct.pack("<32siI", ident.encode("ascii")[:31], index, code)
    if typ == "Empty8":
        return head + bytes(8)
    if typ in ("Bool8", "Int8", "BitSet64", "Color8"):
        return head + struct.pack("<q", int(value))  # type: ignore[call-overload]
    if typ == "Float8":
        return head + struct.pack("<d", float(value))  # type: ignore[arg-type]
    if typ == "TDateTime":
        assert isinstance(value, datetime)
        days = (value - _EPOCH) / timedelta(days=1)
        return head + struct.pack("<d", days)
    if typ == "Float8Array":
        data = np.asarray(value, dtype="<f8").tobytes()
    elif typ == "AnsiString":
        data = str(value).encode("cp1252") + b"\0"
        data += bytes(-len(data) % 8)
    elif typ == "WideString":
        data = str(value).encode("utf-16-le") + b"\0\0"
        data += bytes(-len(data) % 8)
    else:
        data = bytes(value)  # type: ignore[call-overload]
    return head + struct.pack("<q", len(data)) + data
