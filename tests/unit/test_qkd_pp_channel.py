"""Messages, transports and authentication of the post-processing channel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pp_poly_hash

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import (
    AuthenticatedChannel,
    KeyPool,
    channel_pair,
    inprocess_pair,
    poly_hash,
    run_two_party,
)
from qlight.qkd.postprocess.errors import AuthenticationError, ChannelTimeout, ProtocolAbort
from qlight.qkd.postprocess.messages import Message, bits_message, decode, encode, public_message


@given(
    bits=st.lists(st.integers(0, 1), max_size=200),
    ints=st.lists(st.integers(-(2**62), 2**62), max_size=50),
    text=st.text(max_size=20),
)
@settings(max_examples=60, deadline=None)
def test_encode_decode_round_trip(bits: list[int], ints: list[int], text: str) -> None:
    msg = Message(
        "x/y",
        {"s": text, "i": 3, "f": 0.25, "b": True},
        {"ints": np.array(ints, dtype=np.int64)},
        {"bits": np.array(bits, dtype=np.uint8)},
        len(bits),
    )
    back = decode(encode(msg))
    assert back.kind == "x/y"
    assert dict(back.meta) == dict(msg.meta)
    assert back.leaked_bits == len(bits)
    np.testing.assert_array_equal(back.array("ints"), np.array(ints, dtype=np.int64))
    np.testing.assert_array_equal(back.array("bits"), np.array(bits, dtype=np.uint8))


def test_leak_accounting_of_message_helpers() -> None:
    m = bits_message("p", {}, a=np.ones(7, np.uint8), b=np.zeros(5, np.uint8))
    assert m.leaked_bits == 12
    assert public_message("q", {}, idx=np.arange(9)).leaked_bits == 0
    with pytest.raises(ParameterError):
        Message("bad", leaked_bits=-1)
    with pytest.raises(ParameterError):
        encode(bits_message("p", {}, a=np.array([2], np.uint8)))


@pytest.mark.parametrize("data", [b"", b"a", bytes(range(15)), bytes(range(256)) * 3])
def test_poly_hash_matches_naive(data: bytes) -> None:
    r = 0x1234567890ABCDEF1234567890ABCDE
    assert poly_hash(r, data) == pp_poly_hash(r, data)


def test_malformed_frame_aborts() -> None:
    with pytest.raises(ProtocolAbort, match="malformed"):
        decode(b"QLM2\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00{bad}")


@pytest.mark.parametrize("transport", ["inprocess", "tcp"])
def test_messages_arrive_and_ledger_counts(transport: str) -> None:
    a, b = channel_pair(transport, timeout_s=5.0)
    try:
        a.send(bits_message("t/p", {"k": 1}, par=np.array([1, 0, 1], np.uint8)))
        b.send(public_message("t/q", {}, idx=np.arange(4)))
        got = b.recv("t/p")
        np.testing.assert_array_equal(got.array("par"), [1, 0, 1])
        assert a.recv().kind == "t/q"
        assert a.ledger.leaked_bits_sent == 3
        assert b.ledger.leaked_bits_sent == 0
        assert a.ledger.leaked_by_kind == {"t/p": 3}
        assert a.ledger.messages_sent == 1
        assert a.ledger.messages_received == 1
        # 16 bytes per direction for the hash key + 16 per frame sent or received
        assert a.ledger.auth_bytes_used == 32 + 32
    finally:
        a.close()
        b.close()


class _Tamper:
    """Transport wrapper that flips one bit of the n-th frame it sends."""

    def __init__(self, inner: object, frame: int, byte: int) -> None:
        self.inner = inner
        self.frame = frame
        self.byte = byte
        self.count = 0

    def send_frame(self, data: bytes) -> None:
        if self.count == self.frame:
            buf = bytearray(data)
            buf[self.byte % len(buf)] ^= 0x01
            data = bytes(buf)
        self.count += 1
        self.inner.send_frame(data)  # type: ignore[attr-defined]

    def recv_frame(self, timeout_s: float) -> bytes:
        return self.inner.recv_frame(timeout_s)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        pass


def _pair_with(transform: object = None) -> tuple[AuthenticatedChannel, AuthenticatedChannel]:
    ta, tb = inprocess_pair()
    key = bytes(range(256)) * 8
    half = len(key) // 2
    if transform is not None:
        ta = transform(ta)  # type: ignore[operator]
    a = AuthenticatedChannel(ta, KeyPool(key[:half]), KeyPool(key[half:]), timeout_s=2.0)
    b = AuthenticatedChannel(tb, KeyPool(key[half:]), KeyPool(key[:half]), timeout_s=2.0)
    return a, b


@pytest.mark.parametrize("byte", [0, 5, 17, 30, 60])
def test_tampered_message_fails_authentication(byte: int) -> None:
    a, b = _pair_with(lambda t: _Tamper(t, 1, byte))
    msg = bits_message("t/p", {"x": 1}, par=np.array([1, 1, 0, 1], np.uint8))
    a.send(msg)
    assert b.recv().kind == "t/p"  # frame 0 untouched
    a.send(msg)  # frame 1 has one bit flipped (tag or body)
    with pytest.raises(AuthenticationError, match="failed authentication"):
        b.recv()


def test_replayed_frame_fails_authentication() -> None:
    frames: list[bytes] = []

    class Record:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def send_frame(self, data: bytes) -> None:
            frames.append(data)
            self.inner.send_frame(data)  # type: ignore[attr-defined]

        def recv_frame(self, timeout_s: float) -> bytes:
            return self.inner.recv_frame(timeout_s)  # type: ignore[attr-defined,no-any-return]

        def close(self) -> None:
            pass

    a, b = _pair_with(Record)
    a.send(public_message("t/x"))
    b.recv()
    a.transport.inner.send_frame(frames[0])  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationError):
        b.recv()


def test_timeout_and_exhausted_pool() -> None:
    _a, b = channel_pair(timeout_s=0.05)
    with pytest.raises(ChannelTimeout):
        b.recv()
    ta, _tb = inprocess_pair()
    small = AuthenticatedChannel(ta, KeyPool(bytes(48)), KeyPool(bytes(16)))
    small.send(public_message("one"))
    small.send(public_message("two"))
    with pytest.raises(AuthenticationError, match="exhausted"):
        small.send(public_message("three"))
    with pytest.raises(ParameterError):
        channel_pair("carrier-pigeon")


def test_peer_abort_propagates_with_reason() -> None:
    chans = channel_pair(timeout_s=5.0)
    started = threading.Event()

    def alice() -> int:
        started.set()
        raise ProtocolAbort("alice found a problem")

    def bob() -> int:
        started.wait()
        chans[1].recv()
        return 1

    with pytest.raises(ProtocolAbort, match="alice found a problem"):
        run_two_party(alice, bob, chans)
    # Bob got the abort message, not a timeout
    a2, b2 = channel_pair(timeout_s=5.0)
    a2.abort("testing")
    with pytest.raises(ProtocolAbort, match="peer aborted: testing"):
        b2.recv()


def test_unexpected_kind_aborts() -> None:
    a, b = channel_pair(timeout_s=2.0)
    a.send(public_message("x/one"))
    with pytest.raises(ProtocolAbort, match="expected 'x/two'"):
        b.recv("x/two")
