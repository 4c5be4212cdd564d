"""Basis sifting from a link record, as a two-party exchange.

Each party sees only its own columns of the :class:`~qlight.qkd.link.records.LinkRecord`
(:func:`alice_view`, :func:`bob_view`). Bob announces the pulse indices he registered and his
bases (public); Alice replies with the keep mask — same basis, and the announced intensity
class and key basis if requested (BB84 sifting: Bennett & Brassard, Proc. IEEE ICCSSP 1984;
decoy classes announced afterwards: Lo, Ma & Chen, PRL 94, 230504 (2005)). No key bit is
disclosed (leak 0). :func:`sift` is the both-views shortcut used by tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.link.records import LinkRecord
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import public_message

__all__ = ["PartyView", "alice_view", "bob_view", "sift", "sift_alice", "sift_bob"]


@dataclass(frozen=True)
class PartyView:
    """One party's own data: registered pulse indices, bases, bits, intensity classes.

    ``intensity`` is Alice's (Bob's view holds an empty array: he does not know it).
    """

    pulse_index: NDArray[np.int64]
    basis: NDArray[np.uint8]
    bit: NDArray[np.uint8]
    intensity: NDArray[np.uint8]


def alice_view(record: LinkRecord) -> PartyView:
    """Alice's columns of ``record``."""
    return PartyView(record.pulse_index, record.alice_basis, record.alice_bit, record.intensity)


def bob_view(record: LinkRecord) -> PartyView:
    """Bob's columns of ``record``."""
    return PartyView(record.pulse_index, record.bob_basis, record.bob_bit, np.empty(0, np.uint8))


def _mask(
    a: PartyView, bob_basis: NDArray[np.uint8], key_basis: int | None, key_intensity: int | None
) -> NDArray[np.bool_]:
    keep: NDArray[np.bool_] = a.basis == bob_basis
    if key_basis is not None:
        keep &= a.basis == key_basis
    if key_intensity is not None:
        keep &= a.intensity == key_intensity
    return keep


def _check_options(key_basis: int | None, key_intensity: int | None) -> None:
    if key_basis not in (None, 0, 1):
        raise ParameterError("key_basis", key_basis, "must be None, 0 (Z) or 1 (X)")
    if key_intensity is not None and not (isinstance(key_intensity, int) and key_intensity >= 0):
        raise ParameterError("key_intensity", key_intensity, "must be None or an integer >= 0")


def sift_alice(
    view: PartyView,
    channel: AuthenticatedChannel,
    *,
    key_basis: int | None = None,
    key_intensity: int | None = 0,
) -> NDArray[np.uint8]:
    """Alice's side: receive Bob's bases, send the keep mask, return her sifted key."""
    _check_options(key_basis, key_intensity)
    msg = channel.recv("sift/bases")
    idx, bb = msg.array("pulse_index"), msg.array("basis")
    if idx.size != view.pulse_index.size or not np.array_equal(idx, view.pulse_index):
        raise ProtocolAbort("mismatched records: Bob's registered pulses differ from Alice's rows")
    keep = _mask(view, bb.astype(np.uint8), key_basis, key_intensity)
    channel.send(public_message("sift/keep", {}, keep=keep.astype(np.uint8)))
    return np.ascontiguousarray(view.bit[keep], dtype=np.uint8)


def sift_bob(view: PartyView, channel: AuthenticatedChannel) -> NDArray[np.uint8]:
    """Bob's side: announce pulse indices and bases, apply Alice's mask."""
    channel.send(
        public_message(
            "sift/bases",
            {},
            pulse_index=np.ascontiguousarray(view.pulse_index, dtype=np.int64),
            basis=np.ascontiguousarray(view.basis, dtype=np.uint8),
        )
    )
    keep = channel.recv("sift/keep").array("keep").astype(bool)
    if keep.size != view.bit.size:
        raise ProtocolAbort("sift mask size does not match Bob's rows")
    return np.ascontiguousarray(view.bit[keep], dtype=np.uint8)


def sift(
    record: LinkRecord, *, key_basis: int | None = None, key_intensity: int | None = 0
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Both sifted keys computed locally from the whole record (no channel)."""
    _check_options(key_basis, key_intensity)
    keep = _mask(alice_view(record), record.bob_basis, key_basis, key_intensity)
    return (
        np.ascontiguousarray(record.alice_bit[keep], dtype=np.uint8),
        np.ascontiguousarray(record.bob_bit[keep], dtype=np.uint8),
    )
