"""Lean Cascade path: Bob's permuted key copies, fused kernels and raw frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pp_minimal_odd, pp_range_parity

from qlight.errors import ParameterError
from qlight.qkd.postprocess._cascade_kernels import (
    _apply_flips,
    _chain_candidates,
    _flip_pass,
    _gather_blocks,
    _inverse,
    _minimal_odd,
    _permutation,
)
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.errors import AuthenticationError, ProtocolAbort
from qlight.qkd.postprocess.messages import RawFrame, decode_any, encode_raw, public_message
from qlight.qkd.postprocess.reconcile import reconcile


def _k2(k: int) -> int:
    return 2 * (1 << max(k - 1, 0).bit_length())


@given(n=st.integers(1, 400), seed=st.integers(0, 2**40), data=st.data())
@settings(max_examples=40, deadline=None)
def test_gather_blocks_and_flip_pass_keep_the_permuted_copy_exact(
    n: int, seed: int, data: st.DataObject
) -> None:
    perm = _permutation(n, seed)
    inv = _inverse(perm)
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    k = data.draw(st.integers(1, n))
    pk, par = _gather_blocks(key, perm, k)
    assert np.array_equal(pk, key[perm])
    for b in range(par.size):
        assert par[b] == pp_range_parity(key.tolist(), perm.tolist(), b * k, min(b * k + k, n))
    k2 = _k2(k)
    nb = -(-n // k)
    st_a = rng.integers(-1, 2, nb * k2).astype(np.int8)
    st_b, pk_b = st_a.copy(), pk.copy()
    flips = np.unique(rng.integers(0, n, data.draw(st.integers(1, 8)))).astype(np.int64)
    got = _flip_pass(st_a, pk, inv, k, k2, flips)
    key[flips] ^= 1
    assert np.array_equal(pk, key[perm])  # the copy follows every flip
    # the fused kernel equals the two separate kernels (node states and candidates)
    _apply_flips(st_b, pk_b, inv, k, k2, flips)
    want = _chain_candidates(st_b, inv, k, k2, flips)
    assert np.array_equal(st_a, st_b)
    assert np.array_equal(got, want[want >= 0])


@given(
    k=st.sampled_from([1, 2, 3, 8, 13, 64]),
    nb=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    m=st.integers(0, 40),
)
@settings(max_examples=60, deadline=None)
def test_minimal_odd_matches_naive(k: int, nb: int, seed: int, m: int) -> None:
    k2 = _k2(k)
    rng = np.random.default_rng(seed)
    st_arr = rng.integers(-1, 2, nb * k2).astype(np.int8)
    slots = [b * k2 + h for b in range(nb) for h in range(1, k2)]  # any heap id in a block
    cand = rng.choice(slots, size=m).astype(np.int64) if m else np.zeros(0, np.int64)
    got = _minimal_odd(cand, st_arr, k2)
    assert got.tolist() == pp_minimal_odd(cand.tolist(), st_arr.tolist(), k2)


@given(
    kind=st.text(min_size=1, max_size=30),
    payload=st.binary(max_size=200),
    leak=st.integers(0, 2**63),
)
@settings(max_examples=60, deadline=None)
def test_raw_frame_round_trip_and_truncation(kind: str, payload: bytes, leak: int) -> None:
    if len(kind.encode()) > 255:
        return
    data = encode_raw(kind, payload, leak)
    assert decode_any(data) == RawFrame(kind, leak, payload)
    cut = 4 + 8 + 1 + len(kind.encode())  # any cut inside the header is malformed
    for c in range(4, cut):
        with pytest.raises(ProtocolAbort, match="malformed"):
            decode_any(data[:c])


def test_raw_frame_leak_must_be_a_count() -> None:
    with pytest.raises(ParameterError):
        encode_raw("x/y", b"", -1)
    with pytest.raises(ParameterError):
        encode_raw("x/y", b"", True)
    with pytest.raises(ParameterError):
        encode_raw("x/y", b"", 1 << 64)


@pytest.mark.parametrize("tagged", [False, True])
def test_raw_frames_are_authenticated_and_counted(tagged: bool) -> None:
    ca, cb = channel_pair(timeout_s=2.0)
    if not tagged:
        ca.begin_transcript()
        cb.begin_transcript()
    ca.send_raw("t/answer", b"\x05", 3)
    ca.send(public_message("t/msg"))
    assert cb.recv_raw("t/answer") == b"\x05"
    with pytest.raises(ProtocolAbort, match="expected a raw"):
        cb.recv_raw("t/msg")
    assert ca.ledger.leaked_bits_sent == 3
    assert ca.ledger.leaked_by_kind["t/answer"] == 3
    ca.send_raw("t/answer", b"\x05", 3)
    with pytest.raises(ProtocolAbort, match="expected a message"):
        cb.recv()
    if not tagged:
        ca.send_transcript_tag()
        cb.check_transcript_tag()


def test_tampered_raw_frame_fails_the_per_frame_tag() -> None:
    ca, cb = channel_pair(timeout_s=2.0)
    inner = ca.transport

    class Flip:
        def send_frame(self, data: bytes) -> None:
            inner.send_frame(data[:-1] + bytes([data[-1] ^ 1]))

        def recv_frame(self, timeout_s: float) -> bytes:
            return inner.recv_frame(timeout_s)

        def close(self) -> None:
            pass

    ca.transport = Flip()
    ca.send_raw("t/answer", b"\x05\x06", 16)
    with pytest.raises(AuthenticationError, match="failed authentication"):
        cb.recv_raw("t/answer")


@pytest.mark.parametrize("inline", [False, True])
def test_malformed_query_aborts_cleanly(inline: bool) -> None:
    """A query frame whose payload is not (u32 pass, int32 slots) aborts Alice with a reason."""
    from qlight.qkd.postprocess import cascade as mod

    rng = np.random.default_rng(2)
    a = rng.integers(0, 2, 3000, dtype=np.uint8)
    b = a ^ (rng.random(3000) < 0.03).astype(np.uint8)
    good = mod._query
    mod._query = lambda payload: good(payload)[:-1]
    try:
        with pytest.raises(ProtocolAbort, match="malformed parity query"):
            reconcile(
                CascadeReconciler(), a, b, 0.03, channel_pair(timeout_s=5.0), rng, inline=inline
            )
    finally:
        mod._query = good
