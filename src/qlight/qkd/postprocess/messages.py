"""Typed messages of the classical channel, with exact accounting of disclosed key bits.

A :class:`Message` has a ``kind`` (``"cascade/parities"``, ``"verify/tag"``, ...), public
metadata (JSON numbers and strings), named arrays, and ``leaked_bits``: the number of bits of
information about the key that the message discloses — parities, hash tags, revealed sample
bits, syndrome bits. Everything else (permutation seeds, block indices, bases, requests) is
public and counts 0. The sender declares the leak when it builds the message (the helpers
below compute it from the disclosed bits); the channel sums it per kind in its
:class:`~qlight.qkd.postprocess.channel.Ledger`, so the leakage of a protocol is exactly
what was sent.

Wire format (:func:`encode` / :func:`decode`): ``b"QLM1"``, a 4-byte big-endian header
length, a JSON header (kind, meta, leaked_bits, array descriptors), then the raw array bytes
(little-endian). Arrays of dtype ``"bits"`` (0/1 values) travel packed, 8 per byte.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess.errors import ProtocolAbort

__all__ = ["ABORT", "Message", "bits_message", "decode", "encode", "public_message"]

#: Kind of the message a party sends when it aborts; ``meta["reason"]`` says why.
ABORT = "abort"

_MAGIC = b"QLM1"
_DTYPES: dict[str, np.dtype[Any]] = {
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "uint64": np.dtype("<u8"),
    "uint8": np.dtype("u1"),
    "float64": np.dtype("<f8"),
}

_BY_STR = {dt.str: k for k, dt in _DTYPES.items()}

Meta = Mapping[str, int | float | str | bool]


@dataclass(frozen=True)
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


def encode(msg: Message) -> bytes:
    """Serialise ``msg`` to bytes (see the module docstring)."""
    descr: list[list[Any]] = []
    chunks: list[bytes] = []
    for name, arr in msg.arrays.items():
        a = np.asarray(arr)
        key = _BY_STR.get(a.dtype.str)
        if key is None:
            key = next((k for k, dt in _DTYPES.items() if a.dtype == dt), None)
        if key is None:
            raise ParameterError(f"arrays[{name!r}]", a.dtype, "dtype not serialisable")
        data = np.ascontiguousarray(a.ravel(), dtype=_DTYPES[key]).tobytes()
        descr.append([name, key, int(a.size)])
        chunks.append(data)
    for name, arr in msg.bits.items():
        b = np.ascontiguousarray(arr, dtype=np.uint8).ravel()
        if b.size and int(b.max()) > 1:
            raise ParameterError(f"bits[{name!r}]", "values > 1", "must hold 0/1 only")
        descr.append([name, "bits", int(b.size)])
        chunks.append(np.packbits(b).tobytes())
    header = json.dumps(
        {"kind": msg.kind, "meta": dict(msg.meta), "leak": msg.leaked_bits, "arrays": descr},
        separators=(",", ":"),
    ).encode()
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *chunks])


def decode(data: bytes) -> Message:
    """Parse bytes written by :func:`encode`; a malformed frame raises :class:`ProtocolAbort`."""
    try:
        if data[:4] != _MAGIC:
            raise ValueError("bad magic")
        (hlen,) = struct.unpack(">I", data[4:8])
        header = json.loads(data[8 : 8 + hlen])
        pos = 8 + hlen
        arrays: dict[str, NDArray[Any]] = {}
        bits: dict[str, NDArray[np.uint8]] = {}
        for name, key, size in header["arrays"]:
            if key == "bits":
                nbytes = (int(size) + 7) // 8
                raw = np.frombuffer(data, np.uint8, nbytes, pos)
                bits[str(name)] = np.unpackbits(raw, count=int(size))
            else:
                dt = _DTYPES[key]
                nbytes = int(size) * dt.itemsize
                arrays[str(name)] = np.frombuffer(data, dt, int(size), pos).copy()
            pos += nbytes
        if pos != len(data):
            raise ValueError("trailing bytes")
        return Message(str(header["kind"]), dict(header["meta"]), arrays, bits, int(header["leak"]))
    except (ValueError, KeyError, TypeError, struct.error, json.JSONDecodeError) as exc:
        raise ProtocolAbort(f"malformed message ({exc})") from None
