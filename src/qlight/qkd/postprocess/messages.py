"""Typed messages of the classical channel, with exact accounting of disclosed key bits.

A :class:`Message` has a ``kind`` (``"cascade/parities"``, ``"verify/tag"``, ...), public
metadata (JSON numbers and strings), named arrays, and ``leaked_bits``: the number of bits of
information about the key that the message discloses — parities, hash tags, revealed sample
bits, syndrome bits. Everything else (permutation seeds, block indices, bases, requests) is
public and counts 0. The sender declares the leak when it builds the message (the helpers
below compute it from the disclosed bits); the channel sums it per kind in its
:class:`~qlight.qkd.postprocess.channel.Ledger`, so the leakage of a protocol is exactly
what was sent.

Wire format (:func:`encode` / :func:`decode`), a binary header (big-endian) then the data:
``b"QLM2"``; kind length (u8), leaked bits (u64), number of meta entries (u8); the kind
(UTF-8); per meta entry its key (u8 length + UTF-8), a type byte and the value (``i`` int64,
``f`` float64, ``b`` bool, ``s`` u32 length + UTF-8 text, ``n`` an integer beyond int64 as
decimal text); the number of arrays (u8); per array its name (u8 length + UTF-8), a dtype
code (u8) and its element count (u64); then the raw array bytes (little-endian). Arrays of
dtype ``"bits"`` (0/1 values) travel packed, 8 per byte. (The first version, ``QLM1``, had
a JSON header; parsing it cost ≈ 10 µs per message, a tenth of a Cascade round trip.)

Raw frames (:class:`RawFrame`, :func:`encode_raw`) are the lean path for the many small
messages of an interactive protocol (Cascade's per-round queries and answers): ``b"QLR1"``,
leaked bits (u64), the kind (u8 length + UTF-8), then one opaque payload that the protocol
packs and parses itself. No Python object per array, no metadata dictionary; they are
authenticated and counted in the ledger exactly like :class:`Message` frames.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess.errors import ProtocolAbort

__all__ = [
    "ABORT",
    "Message",
    "RawFrame",
    "bits_message",
    "decode",
    "decode_any",
    "encode",
    "encode_raw",
    "public_message",
]

#: Kind of the message a party sends when it aborts; ``meta["reason"]`` says why.
ABORT = "abort"

_MAGIC = b"QLM2"
_DTYPES: dict[str, np.dtype[Any]] = {
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "uint64": np.dtype("<u8"),
    "uint8": np.dtype("u1"),
    "float64": np.dtype("<f8"),
}

_BY_STR = {dt.str: k for k, dt in _DTYPES.items()}

Meta = Mapping[str, int | float | str | bool]


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a two-party protocol.

    Attributes
    ----------
    kind : str
        What the message is, ``"<protocol>/<step>"``.
    meta : mapping
        Public scalar data (JSON types).
    arrays : mapping of str to ndarray
        Named arrays; ``bits`` holds 0/1 ``uint8`` arrays sent packed, ``arrays`` the rest
        (int64, int32, uint64, uint8, float64).
    leaked_bits : int
        Bits of information about the key this message discloses (>= 0).
    """

    kind: str
    meta: Meta = field(default_factory=dict)
    arrays: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    bits: Mapping[str, NDArray[np.uint8]] = field(default_factory=dict)
    leaked_bits: int = 0

    def __post_init__(self) -> None:
        if type(self.leaked_bits) is int and self.leaked_bits >= 0:  # fast path
            return
        if isinstance(self.leaked_bits, bool) or not isinstance(self.leaked_bits, int):
            raise ParameterError("leaked_bits", self.leaked_bits, "must be an integer")
        if self.leaked_bits < 0:
            raise ParameterError("leaked_bits", self.leaked_bits, "must be >= 0")

    def array(self, name: str) -> NDArray[Any]:
        """The array ``name`` (from ``arrays`` or ``bits``); a clean abort if it is missing."""
        if name in self.arrays:
            return self.arrays[name]
        if name in self.bits:
            return self.bits[name]
        raise ProtocolAbort(f"message {self.kind!r} lacks array {name!r}")


def public_message(kind: str, meta: Meta | None = None, **arrays: NDArray[Any]) -> Message:
    """A message that discloses nothing about the key (requests, seeds, bases, indices)."""
    return Message(kind, dict(meta or {}), arrays, {}, 0)


def bits_message(kind: str, meta: Meta | None = None, /, **bits: NDArray[np.uint8]) -> Message:
    """A message disclosing key-dependent bits; ``leaked_bits`` = their total number.

    Use it for parities, hash tags, revealed sample bits and syndromes: each transmitted bit
    is one bit of leakage (the worst case, as in Martinez-Mateo et al., QIC 15, 453 (2015),
    Sec. 2, where leakage is the number of exchanged parity bits).
    """
    arrs = {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in bits.items()}
    return Message(kind, dict(meta or {}), {}, arrs, int(sum(a.size for a in arrs.values())))


_CODES = {"int64": 0, "int32": 1, "uint64": 2, "uint8": 3, "float64": 4, "bits": 5}
_NAMES = {v: k for k, v in _CODES.items()}
_U8 = struct.Struct(">B")
_HEAD = struct.Struct(">BQB")  # kind length, leaked bits, number of meta entries
_ARR = struct.Struct(">BQ")  # dtype code, element count
_SCALAR = {"i": struct.Struct(">q"), "f": struct.Struct(">d"), "b": struct.Struct(">?")}
_I64 = 1 << 63


_SHORT: dict[str, bytes] = {}


def _short(text: str, what: str) -> bytes:
    """``text`` as u8 length + UTF-8 (kinds, keys and names repeat: cached)."""
    out = _SHORT.get(text)
    if out is None:
        out = _short_new(text, what)
        if len(_SHORT) < 4096:
            _SHORT[text] = out
    return out


def _short_new(text: str, what: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ParameterError(what, text[:40], "must be at most 255 bytes of UTF-8")
    return _U8.pack(len(raw)) + raw


def _meta_bytes(meta: Meta) -> list[bytes]:
    out: list[bytes] = []
    for key, value in meta.items():
        out.append(_short(str(key), "meta key"))
        if isinstance(value, bool):
            out += [b"b", _SCALAR["b"].pack(value)]
        elif isinstance(value, int) and -_I64 <= value < _I64:
            out += [b"i", _SCALAR["i"].pack(value)]
        elif isinstance(value, int):  # beyond int64: decimal text
            raw = str(value).encode()
            out += [b"n", struct.pack(">I", len(raw)), raw]
        elif isinstance(value, float):
            out += [b"f", _SCALAR["f"].pack(value)]
        elif isinstance(value, str):
            raw = value.encode()
            out += [b"s", struct.pack(">I", len(raw)), raw]
        else:
            raise ParameterError(
                f"meta[{key!r}]", type(value).__name__, "must be int/float/str/bool"
            )
    return out


def encode(msg: Message) -> bytes:
    """Serialise ``msg`` to bytes (see the module docstring)."""
    kind = _short(msg.kind, "kind")
    parts: list[bytes] = [_MAGIC, _HEAD.pack(kind[0], msg.leaked_bits, len(msg.meta)), kind[1:]]
    parts += _meta_bytes(msg.meta)
    n_arrays = len(msg.arrays) + len(msg.bits)
    if n_arrays > 255:
        raise ParameterError("arrays", n_arrays, "must be at most 255")
    parts.append(_U8.pack(n_arrays))
    chunks: list[bytes] = []
    for name, arr in msg.arrays.items():
        a = np.asarray(arr)
        key = _BY_STR.get(a.dtype.str)
        if key is None:
            key = next((k for k, dt in _DTYPES.items() if a.dtype == dt), None)
        if key is None:
            raise ParameterError(f"arrays[{name!r}]", a.dtype, "dtype not serialisable")
        parts += [_short(name, "array name"), _ARR.pack(_CODES[key], a.size)]
        chunks.append(np.ascontiguousarray(a.ravel(), dtype=_DTYPES[key]).tobytes())
    for name, arr in msg.bits.items():
        b = np.ascontiguousarray(arr, dtype=np.uint8).ravel()
        if b.size and (max(b.tobytes()) if b.size <= 256 else int(b.max())) > 1:
            raise ParameterError(f"bits[{name!r}]", "values > 1", "must hold 0/1 only")
        parts += [_short(name, "array name"), _ARR.pack(_CODES["bits"], b.size)]
        chunks.append(np.packbits(b).tobytes())
    return b"".join(parts + chunks)


def decode(data: bytes) -> Message:
    """Parse bytes written by :func:`encode`; a malformed frame raises :class:`ProtocolAbort`."""
    try:
        if data[:4] != _MAGIC:
            raise ValueError("bad magic")
        klen, leak, n_meta = _HEAD.unpack_from(data, 4)
        pos = 4 + _HEAD.size
        kind = data[pos : pos + klen].decode()
        pos += klen
        meta: dict[str, int | float | str | bool] = {}
        for _ in range(n_meta):
            (n,) = _U8.unpack_from(data, pos)
            key = data[pos + 1 : pos + 1 + n].decode()
            pos += 1 + n
            t = data[pos : pos + 1].decode()
            pos += 1
            if t in _SCALAR:
                (meta[key],) = _SCALAR[t].unpack_from(data, pos)
                pos += _SCALAR[t].size
            elif t in ("s", "n"):
                (n,) = struct.unpack_from(">I", data, pos)
                text = data[pos + 4 : pos + 4 + n].decode()
                if len(text.encode()) != n:
                    raise ValueError("truncated text")
                meta[key] = text if t == "s" else int(text)
                pos += 4 + n
            else:
                raise ValueError(f"meta type {t!r}")
        (n_arrays,) = _U8.unpack_from(data, pos)
        pos += 1
        descr: list[tuple[str, str, int]] = []
        for _ in range(n_arrays):
            (n,) = _U8.unpack_from(data, pos)
            name = data[pos + 1 : pos + 1 + n].decode()
            code, size = _ARR.unpack_from(data, pos + 1 + n)
            descr.append((name, _NAMES[code], int(size)))
            pos += 1 + n + _ARR.size
        arrays: dict[str, NDArray[Any]] = {}
        bits: dict[str, NDArray[np.uint8]] = {}
        for name, key, size in descr:
            if key == "bits":
                nbytes = (size + 7) // 8
                raw = np.frombuffer(data, np.uint8, nbytes, pos)
                bits[name] = np.unpackbits(raw, count=size)
            else:
                dt = _DTYPES[key]
                nbytes = size * dt.itemsize
                arrays[name] = np.frombuffer(data, dt, size, pos).copy()
            pos += nbytes
        if pos != len(data):
            raise ValueError("trailing bytes")
        return Message(kind, meta, arrays, bits, int(leak))
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise ProtocolAbort(f"malformed message ({exc})") from None


_RAW_MAGIC = b"QLR1"
_LEAK = struct.Struct(">Q")


class RawFrame(NamedTuple):
    """A frame with one opaque payload (the lean path, see the module docstring)."""

    kind: str
    leaked_bits: int
    payload: bytes


def encode_raw(kind: str, payload: bytes, leaked_bits: int) -> bytes:
    """Serialise a raw frame; ``leaked_bits`` as for :class:`Message` (bits disclosed)."""
    if type(leaked_bits) is not int or not 0 <= leaked_bits < 1 << 64:
        raise ParameterError("leaked_bits", leaked_bits, "must be an integer in [0, 2^64)")
    return b"".join((_RAW_MAGIC, _LEAK.pack(leaked_bits), _short(kind, "kind"), payload))


def decode_any(data: bytes) -> Message | RawFrame:
    """:func:`decode` a message, or parse a raw frame; malformed: :class:`ProtocolAbort`."""
    if data[:4] != _RAW_MAGIC:
        return decode(data)
    if len(data) < 13 or len(data) < 13 + data[12]:
        raise ProtocolAbort("malformed message (truncated raw frame)")
    (leak,) = _LEAK.unpack_from(data, 4)
    end = 13 + data[12]
    try:
        kind = data[13:end].decode()
    except UnicodeDecodeError as exc:
        raise ProtocolAbort(f"malformed message ({exc})") from None
    return RawFrame(kind, int(leak), data[end:])
