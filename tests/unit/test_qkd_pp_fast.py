"""Fast paths of the post-processing engine: kernels against oracles, transcript MAC, inline.

Covers the Rao–Sandelius and half-split permutations, Alice's slot-parity kernel, the numba
polynomial MAC, deferred (transcript) authentication and the single-thread inline runner.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pp_left_half_parity, pp_modified_toeplitz, pp_poly_hash

from qlight.errors import ParameterError
from qlight.qkd.postprocess._cascade_kernels import (
    _half_split,
    _permutation,
    _prefix_xor,
    _slot_parities,
)
from qlight.qkd.postprocess._mac_kernels import poly_hash_fast
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.errors import AuthenticationError, ProtocolAbort
from qlight.qkd.postprocess.inline import run_inline
from qlight.qkd.postprocess.messages import bits_message, public_message
from qlight.qkd.postprocess.reconcile import reconcile
from qlight.qkd.postprocess.toeplitz import modified_seed_length, modified_toeplitz_hash

_P = (1 << 127) - 1


def _bsc(n: int, q: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, 2, n, dtype=np.uint8)
    return a, a ^ (rng.random(n) < q).astype(np.uint8)


# ----------------------------------------------------------------- permutations


@given(n=st.integers(1, 20_000), seed=st.integers(0, 2**62))
@settings(max_examples=60, deadline=None)
def test_permutations_are_permutations_and_seeded(n: int, seed: int) -> None:
    for p, again in (
        (_permutation(n, seed), _permutation(n, seed)),
        (_half_split(n, n // 2, seed), _half_split(n, n // 2, seed)),
    ):
        assert p.dtype == np.int32
        assert np.array_equal(np.sort(p), np.arange(n))
        assert np.array_equal(p, again)


def test_rao_sandelius_is_uniform() -> None:
    # n = 3: 6 permutations, 12 000 seeds -> 2 000 expected each; Pearson chi^2 with 5 dof
    # has its 99.9 % quantile at 20.5.  n = 5000 (3 buckets of labels): the position of
    # element 0, binned in 50 bins of 100, over 20 000 seeds -> 400 per bin; chi^2, 49 dof,
    # 99.9 % quantile 85.4.  A biased shuffle (e.g. no inner Fisher–Yates) fails both.
    counts: dict[tuple[int, ...], int] = {}
    for s in range(12_000):
        key = tuple(_permutation(3, s).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    obs = np.array(list(counts.values()), dtype=float)
    assert float(((obs - 2000.0) ** 2 / 2000.0).sum()) < 20.5
    pos = np.array([int(np.flatnonzero(_permutation(5000, s) == 0)[0]) for s in range(20_000)])
    hist = np.bincount(pos // 100, minlength=50).astype(float)
    assert float(((hist - 400.0) ** 2 / 400.0).sum()) < 85.4


@pytest.mark.parametrize("element", [0, 7, 500, 1000])
def test_half_split_first_block_is_a_uniform_subset(element: int) -> None:
    # n = 1001, k = 500: every element lies in the first block with probability exactly
    # k/n = 0.4995 (uniform k-subset), whatever its index (without the boundary draw the
    # lowest-index elements would sit there with probability ≈ 3/4). Over 4000 seeds the
    # count has sd sqrt(4000 · 0.25) = 31.6; |count − 1998| < 5 sd = 158.
    first = sum(
        int(np.flatnonzero(_half_split(1001, 500, s) == element)[0]) < 500 for s in range(4000)
    )
    assert abs(first - 1998) < 158


# ----------------------------------------------------------------- Alice's parities


@given(n=st.integers(2, 600), seed=st.integers(0, 2**32), data=st.data())
@settings(max_examples=60, deadline=None)
def test_slot_parities_match_naive(n: int, seed: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    perm = _permutation(n, seed)
    k = data.draw(st.integers(2, n))
    k2 = 2 * (1 << (k - 1).bit_length())
    nb = -(-n // k)
    slots = []
    for _ in range(8):  # random splittable nodes: walk down from a block root
        b = int(rng.integers(0, nb))
        lo, hi, h = b * k, min(b * k + k, n), 1
        for _ in range(int(rng.integers(0, 12))):
            if hi - lo <= 2:
                break
            mid = (lo + hi) // 2
            if rng.random() < 0.5:
                hi, h = mid, 2 * h
            else:
                lo, h = mid, 2 * h + 1
        if hi - lo > 1:
            slots.append(b * k2 + h)
    if not slots:
        return
    got, ok = _slot_parities(_prefix_xor(key, perm), np.array(slots, np.int64), k, k2, n)
    assert ok
    want = [pp_left_half_parity(key.tolist(), perm.tolist(), k, k2, s) for s in slots]
    assert got.tolist() == want


def test_slot_parities_reject_bad_slots() -> None:
    key = np.ones(10, np.uint8)
    px = _prefix_xor(key, _permutation(10, 1))
    for bad in (-1, 0, 64, 10**9, 2 * 16 + 15):  # negative, heap id 0, past the end, leaf
        assert not _slot_parities(px, np.array([bad], np.int64), 8, 16, 10)[1]


# ----------------------------------------------------------------- MAC


@given(data=st.binary(max_size=3000), r=st.integers(0, _P - 1))
@settings(max_examples=200, deadline=None)
def test_numba_poly_hash_equals_the_big_integer_oracle(data: bytes, r: int) -> None:
    assert poly_hash_fast(r, data) == pp_poly_hash(r, data)


@pytest.mark.parametrize("r", [0, 1, _P - 1, (1 << 126) + 12345, 2**96 - 1])
def test_numba_poly_hash_edge_keys(r: int) -> None:
    for data in (b"", b"\xff" * 15, b"\xff" * 1000, os.urandom(777)):
        assert poly_hash_fast(r, data) == pp_poly_hash(r, data)


# ----------------------------------------------------------------- transcript MAC


def _exchange(tamper: int | None, swap: bool = False) -> None:
    ca, cb = channel_pair(timeout_s=5.0)
    frames: list[bytes] = []
    inner = ca.transport

    class Spy:
        def send_frame(self, data: bytes) -> None:
            frames.append(data)

        def recv_frame(self, timeout_s: float) -> bytes:
            return inner.recv_frame(timeout_s)

        def close(self) -> None:
            pass

    ca.transport = Spy()
    ca.begin_transcript()
    cb.begin_transcript()
    for i in range(3):
        ca.send(bits_message("t/parities", {"i": i}, parities=np.array([1, 0, 1, 1], np.uint8)))
    if tamper is not None:  # flip one parity bit: the frame still decodes
        f = bytearray(frames[tamper])
        f[-1] ^= 0x80
        frames[tamper] = bytes(f)
    if swap:
        frames[0], frames[1] = frames[1], frames[0]
    for f in frames:
        inner.send_frame(f)
    frames.clear()
    got = [cb.recv("t/parities") for _ in range(3)]
    assert all(m.array("parities").size == 4 for m in got)
    ca.send_transcript_tag()
    for f in frames:
        inner.send_frame(f)
    cb.check_transcript_tag()


def test_transcript_tag_accepts_the_untouched_transcript() -> None:
    _exchange(None)


@pytest.mark.parametrize("frame", [0, 1, 2])
def test_transcript_tag_catches_a_modified_frame(frame: int) -> None:
    with pytest.raises(AuthenticationError, match="transcript failed authentication"):
        _exchange(frame)


def test_transcript_tag_catches_reordered_frames() -> None:
    with pytest.raises(AuthenticationError, match="transcript failed authentication"):
        _exchange(None, swap=True)


def test_transcript_calls_out_of_order_abort() -> None:
    ca, _ = channel_pair(timeout_s=1.0)
    with pytest.raises(ProtocolAbort, match="no transcript"):
        ca.send_transcript_tag()
    with pytest.raises(ProtocolAbort, match="no transcript"):
        ca.check_transcript_tag()


# ----------------------------------------------------------------- inline runner


@given(
    n=st.integers(2, 3000),
    q=st.sampled_from([0.0, 0.01, 0.05, 0.12]),
    seed=st.integers(0, 2**32),
    variant=st.sampled_from(["original", "optimized"]),
)
@settings(max_examples=25, deadline=None)
def test_inline_run_sends_exactly_what_the_threaded_run_sends(
    n: int, q: float, seed: int, variant: str
) -> None:
    a, b = _bsc(n, q, np.random.default_rng(seed))
    rec = CascadeReconciler(variant)  # type: ignore[arg-type]
    ch_t, ch_i = channel_pair(), channel_pair()
    rt = reconcile(rec, a, b, q, ch_t, np.random.default_rng(seed))
    ri = reconcile(rec, a, b, q, ch_i, np.random.default_rng(seed), inline=True)
    assert np.array_equal(rt.bob_key, ri.bob_key)
    assert (rt.leaked_bits, rt.channel_uses, rt.bytes_sent) == (
        ri.leaked_bits,
        ri.channel_uses,
        ri.bytes_sent,
    )
    assert ri.leaked_bits == ch_i[0].ledger.leaked_bits_sent  # all leak is Alice's parities
    assert ch_i[1].ledger.leaked_bits_sent == 0
    flipped = ri.bob_key != b
    assert not (flipped & (a == b)).any()  # Bob only ever flips genuine errors
    assert np.array_equal(ri.alice_key, a)


def test_inline_run_with_tampering_aborts_without_key() -> None:
    rng = np.random.default_rng(4)
    a, b = _bsc(4000, 0.03, rng)
    ca, cb = channel_pair(timeout_s=5.0)
    inner = ca.transport
    count = [0]

    class Tamper:
        _in = getattr(inner, "_in")  # noqa: B009 - the inline runner reads the inbox

        def send_frame(self, data: bytes) -> None:
            count[0] += 1
            if count[0] == 4:
                data = data[:-1] + bytes([data[-1] ^ 1])
            inner.send_frame(data)

        def recv_frame(self, timeout_s: float) -> bytes:
            return inner.recv_frame(timeout_s)

        def close(self) -> None:
            pass

    ca.transport = Tamper()
    with pytest.raises(AuthenticationError, match="failed authentication"):
        reconcile(CascadeReconciler(), a, b, 0.03, (ca, cb), rng, inline=True)


def test_inline_runner_failures_are_clean() -> None:
    def alice_fails():  # type: ignore[no-untyped-def]
        yield
        raise ProtocolAbort("alice: boom")

    ca, cb = channel_pair(timeout_s=1.0)

    def bob_asks() -> int:
        cb.send(public_message("x/ask"))
        cb.recv()
        return 1

    with pytest.raises(ProtocolAbort, match="boom"):
        run_inline(alice_fails(), bob_asks, (ca, cb))

    def alice_silent():  # type: ignore[no-untyped-def]
        yield
        ca.recv()
        return 0

    ca, cb = channel_pair(timeout_s=1.0)
    with pytest.raises(ProtocolAbort, match="never send"):
        run_inline(alice_silent(), bob_asks, (ca, cb))
    tcp = channel_pair("tcp", timeout_s=2.0)
    try:
        with pytest.raises(ProtocolAbort, match="in-process transport"):
            run_inline(alice_silent(), lambda: 0, tcp)
    finally:
        tcp[0].close()
        tcp[1].close()


def test_inline_needs_a_generator_side() -> None:
    from qlight.qkd.postprocess.ldpc import LdpcReconciler

    a, b = _bsc(100, 0.02, np.random.default_rng(1))
    with pytest.raises(ParameterError, match="inline"):
        reconcile(
            LdpcReconciler(), a, b, 0.02, channel_pair(), np.random.default_rng(1), inline=True
        )


# ----------------------------------------------------------------- modified Toeplitz


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_modified_toeplitz_equals_the_explicit_matrix(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 400))
    m = data.draw(st.integers(1, n - 1))
    x = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    s = data.draw(st.lists(st.integers(0, 1), min_size=n - 1, max_size=n - 1))
    got = modified_toeplitz_hash(np.array(x, np.uint8), np.array(s, np.uint8), m)
    assert got.dtype == np.uint8
    assert got.tolist() == pp_modified_toeplitz(x, s, m)
    assert modified_seed_length(m, n) == n - 1


def test_modified_toeplitz_large_block_spot_checked() -> None:
    # FFT path (m > 256) at 2^17 bits, all-ones worst case for the rounding and a random
    # key; 40 output rows checked against the definition.
    rng = np.random.default_rng(8)
    n, m = 1 << 17, 60_000
    for x in (np.ones(n, np.uint8), rng.integers(0, 2, n, dtype=np.uint8)):
        s = rng.integers(0, 2, n - 1, dtype=np.uint8)
        y = modified_toeplitz_hash(x, s, m)
        nb = n - m
        for i in rng.integers(0, m, 40).tolist():
            j = np.arange(nb)
            want = int(x[i]) ^ int(np.bitwise_and(s[i - j + nb - 1], x[m + j]).sum() & 1)
            assert int(y[i]) == want


def test_modified_toeplitz_collision_rate_is_two_to_minus_m() -> None:
    # Universal2: two fixed different keys collide with probability 2^−m over the seed.
    # m = 3: p = 1/8; 4000 seeds -> mean 500, sd sqrt(4000 · 1/8 · 7/8) = 20.9; 5 sd = 105.
    rng = np.random.default_rng(3)
    n, m = 40, 3
    x = rng.integers(0, 2, n, dtype=np.uint8)
    x2 = x.copy()
    x2[[5, 30]] ^= 1  # differs in both parts
    hits = 0
    for _ in range(4000):
        s = rng.integers(0, 2, n - 1, dtype=np.uint8)
        hits += bool(
            np.array_equal(modified_toeplitz_hash(x, s, m), modified_toeplitz_hash(x2, s, m))
        )
    assert abs(hits - 500) < 105


def test_modified_toeplitz_bad_input() -> None:
    x = np.ones(10, np.uint8)
    with pytest.raises(ParameterError, match="n_out"):
        modified_toeplitz_hash(x, np.ones(9, np.uint8), 10)
    with pytest.raises(ParameterError, match="n_out"):
        modified_toeplitz_hash(x, np.ones(9, np.uint8), True)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="seed_bits"):
        modified_toeplitz_hash(x, np.ones(10, np.uint8), 5)
