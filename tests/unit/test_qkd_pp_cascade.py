"""Cascade: kernels against oracles, correctness, efficiency, leak accounting, aborts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pp_node_range, pp_range_parity

from qlight.qkd.postprocess._cascade_kernels import (
    _block_parities,
    _inverse,
    _node_range,
    _permutation,
    _prefix_xor,
    _range_parities,
)
from qlight.qkd.postprocess.cascade import CascadeReconciler, block_sizes
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.errors import AuthenticationError, ProtocolAbort
from qlight.qkd.postprocess.messages import Message, RawFrame, decode_any
from qlight.qkd.postprocess.reconcile import binary_entropy, efficiency, reconcile


def _bsc(n: int, q: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, 2, n, dtype=np.uint8)
    return a, a ^ (rng.random(n) < q).astype(np.uint8)


@given(n=st.integers(1, 300), seed=st.integers(0, 2**40))
@settings(max_examples=40, deadline=None)
def test_kernels_match_naive(n: int, seed: int) -> None:
    perm = _permutation(n, seed)
    assert sorted(perm.tolist()) == list(range(n))
    inv = _inverse(perm)
    assert (perm[inv] == np.arange(n)).all()
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    lo = rng.integers(0, n, 10)
    hi = np.minimum(lo + rng.integers(1, n + 1, 10), n)
    got = _range_parities(key, perm, lo, hi)
    px = _prefix_xor(key, perm)
    for i in range(10):
        want = pp_range_parity(key.tolist(), perm.tolist(), int(lo[i]), int(hi[i]))
        assert got[i] == want == px[hi[i]] ^ px[lo[i]]
    k = int(rng.integers(1, n + 1))
    blocks = _block_parities(key, perm, k)
    for b in range(blocks.size):
        assert blocks[b] == pp_range_parity(key.tolist(), perm.tolist(), b * k, min(b * k + k, n))


@given(h=st.integers(1, 4096), lo=st.integers(0, 100), size=st.integers(1, 5000))
def test_node_range_matches_naive(h: int, lo: int, size: int) -> None:
    assume_depth = h.bit_length() - 1
    if assume_depth > math.ceil(math.log2(size)) if size > 1 else assume_depth > 0:
        return
    assert _node_range(h, lo, lo + size) == pp_node_range(h, lo, lo + size)


def test_permutation_is_seeded_and_not_identity() -> None:
    a, b, c = _permutation(1000, 7), _permutation(1000, 7), _permutation(1000, 8)
    assert (a == b).all()
    assert not (a == c).all()
    assert not (a == np.arange(1000)).all()


def test_block_sizes_follow_the_papers() -> None:
    # Brassard-Salvail 1993: k1 = ceil(0.73/Q), doubling, 4 passes
    assert block_sizes("original", 0.02, 10**6) == [37, 74, 148, 296]
    # Martinez-Mateo 2015 opt. (8): alpha = log2(1/Q) - 0.5 = 5.144 -> 64, 2^ceil(8.57) = 512
    assert block_sizes("optimized", 0.02, 10**6) == [64, 512, 4096] + [500_000] * 11
    assert max(block_sizes("optimized", 0.02, 1000)) == 500


@pytest.mark.parametrize("transport", ["inprocess", "tcp"])
@pytest.mark.parametrize("variant", ["original", "optimized"])
def test_cascade_corrects_all_errors(variant: str, transport: str) -> None:
    rng = np.random.default_rng(11)
    a, b = _bsc(20_000, 0.03, rng)
    chans = channel_pair(transport)
    try:
        res = reconcile(CascadeReconciler(variant), a, b, 0.03, chans, rng)  # type: ignore[arg-type]
    finally:
        for c in chans:
            c.close()
    assert (res.alice_key == a).all()
    assert (res.bob_key == a).all()
    assert res.channel_uses > 0
    assert res.n_bits == 20_000


@pytest.mark.parametrize("q", [0.01, 0.02, 0.05])
def test_optimized_cascade_efficiency(q: float) -> None:
    # Goal of issue 8: f <= 1.08 at QBER 1-5 %. Over 4 frames of 2^16 bits the measured mean
    # is 1.02-1.05 (Martinez-Mateo 2015 Fig. 6 reports ~1.05 at n = 10^4). With the nominal
    # Q, f fluctuates with the frame's error count: at Q = 1 %, 655 +- 26 errors, i.e. a
    # relative sd of h of ~3.5 % per frame and ~1.8 % for the mean of 4, so 1.08 is ~2.5-3
    # sd above the expected ~1.03. With the frame's actual QBER the spread is much smaller
    # and f cannot fall much below 1 (the leak must cover log2 C(n, k) ~ n h(k/n)).
    rng = np.random.default_rng(2024)
    leaked = n_bits = 0
    f_actual = []
    for _ in range(4):
        a, b = _bsc(1 << 16, q, rng)
        res = reconcile(CascadeReconciler("optimized"), a, b, q, channel_pair(), rng)
        assert (res.bob_key == a).all()
        leaked += res.leaked_bits
        n_bits += res.n_bits
        f_actual.append(res.efficiency(float(np.mean(a != b))))
    assert efficiency(leaked, n_bits, q) <= 1.08
    assert np.mean(f_actual) <= 1.08
    assert np.mean(f_actual) >= 0.99


def test_original_cascade_efficiency_matches_literature() -> None:
    # Brassard-Salvail Cascade leaks 13-21 % above the Shannon limit at QBER 1-5 %
    # (Martinez-Mateo 2015, Fig. 6); the optimised variant must beat it on the same frames.
    rng = np.random.default_rng(5)
    a, b = _bsc(1 << 16, 0.03, rng)
    orig = reconcile(CascadeReconciler("original"), a, b, 0.03, channel_pair(), rng)
    opt = reconcile(CascadeReconciler("optimized"), a, b, 0.03, channel_pair(), rng)
    assert 1.10 <= orig.efficiency(0.03) <= 1.25
    assert opt.leaked_bits < orig.leaked_bits


def test_leak_equals_parity_bits_actually_sent() -> None:
    rng = np.random.default_rng(3)
    a, b = _bsc(5000, 0.04, rng)
    sent: dict[str, list[bytes]] = {"alice": [], "bob": []}
    ca, cb = channel_pair()

    class Spy:
        def __init__(self, inner: object, log: list[bytes]) -> None:
            self.inner, self.log = inner, log

        def send_frame(self, data: bytes) -> None:
            self.log.append(data)
            self.inner.send_frame(data)  # type: ignore[attr-defined]

        def recv_frame(self, timeout_s: float) -> bytes:
            return self.inner.recv_frame(timeout_s)  # type: ignore[attr-defined, no-any-return]

        def close(self) -> None:
            pass

    ca.transport = Spy(ca.transport, sent["alice"])
    cb.transport = Spy(cb.transport, sent["bob"])
    res = reconcile(CascadeReconciler("optimized"), a, b, 0.04, (ca, cb), rng)
    # the setup and the transcript tag carry a 16-byte tag; the frames between them travel
    # untagged under the transcript MAC (channel.begin_transcript)
    msgs = [decode_any(f if f[:3] == b"QLM" or f[:3] == b"QLR" else f[16:]) for f in sent["alice"]]
    assert msgs[0].kind == "cascade/setup"
    assert msgs[-1].kind == "auth/transcript"
    assert all(f[:4] in (b"QLM2", b"QLR1") for f in sent["alice"][1:-1])
    block_bits = sum(
        m.array("parities").size
        for m in msgs
        if isinstance(m, Message) and m.kind == "cascade/parities"
    )
    # every answer holds one parity per slot of Bob's query (raw frames: u32 pass, int32 slots)
    queries = [decode_any(f) for f in sent["bob"][1:-1]]
    query_bits = sum(
        (len(m.payload) - 4) // 4
        for m in queries
        if isinstance(m, RawFrame) and m.kind == "cascade/query"
    )
    answers = [m for m in msgs if isinstance(m, RawFrame) and m.kind == "cascade/answer"]
    assert sum(len(m.payload) for m in answers) == sum(
        (len(m.payload) - 4) // 4 + 7 >> 3 for m in queries if isinstance(m, RawFrame)
    )
    parity_bits = block_bits + query_bits
    assert res.leaked_bits == parity_bits == ca.ledger.leaked_bits_sent
    assert cb.ledger.leaked_bits_sent == 0  # Bob's requests disclose nothing about the key
    assert res.efficiency(0.04) == efficiency(parity_bits, 5000, 0.04)
    assert res.efficiency(0.04) == parity_bits / (5000 * binary_entropy(0.04))


def test_same_seed_same_protocol() -> None:
    def run() -> tuple[int, int]:
        rng = np.random.default_rng(99)
        a, b = _bsc(8000, 0.02, rng)
        r = reconcile(CascadeReconciler("optimized"), a, b, 0.02, channel_pair(), rng)
        return r.leaked_bits, r.channel_uses

    assert run() == run()


def test_aborts_cleanly() -> None:
    rng = np.random.default_rng(1)
    a, b = _bsc(1000, 0.02, rng)
    with pytest.raises(ProtocolAbort, match="mismatched block sizes"):
        reconcile(CascadeReconciler(), a, b[:999], 0.02, channel_pair(timeout_s=5.0), rng)
    with pytest.raises(ProtocolAbort, match="outside what cascade-opt supports"):
        reconcile(CascadeReconciler(), a, b, 0.2, channel_pair(timeout_s=5.0), rng)
    with pytest.raises(ProtocolAbort, match="unknown Cascade variant"):
        CascadeReconciler("turbo")  # type: ignore[arg-type]


def test_tampered_parity_message_aborts_without_key() -> None:
    rng = np.random.default_rng(4)
    a, b = _bsc(4000, 0.03, rng)
    ca, cb = channel_pair(timeout_s=5.0)
    inner = ca.transport
    count = [0]

    class Tamper:
        def send_frame(self, data: bytes) -> None:
            count[0] += 1
            if count[0] == 4:  # a parity answer in the middle of the protocol
                data = data[:-1] + bytes([data[-1] ^ 1])
            inner.send_frame(data)

        def recv_frame(self, timeout_s: float) -> bytes:
            return inner.recv_frame(timeout_s)

        def close(self) -> None:
            pass

    ca.transport = Tamper()
    with pytest.raises(AuthenticationError, match="failed authentication"):
        reconcile(CascadeReconciler(), a, b, 0.03, (ca, cb), rng)


@given(
    n=st.integers(2, 3000),
    q=st.sampled_from([0.0, 0.005, 0.02, 0.08, 0.15]),
    seed=st.integers(0, 2**32),
    variant=st.sampled_from(["original", "optimized"]),
)
@settings(max_examples=40, deadline=None)
def test_cascade_only_flips_genuine_errors(n: int, q: float, seed: int, variant: str) -> None:
    # Every binary search runs over a range with odd error parity on Bob's current key, so it
    # ends on a real error: Bob never flips a correct bit, whatever the size or error rate,
    # and Alice's key is never changed.
    rng = np.random.default_rng(seed)
    a, b = _bsc(n, q, rng)
    chans = channel_pair(timeout_s=10.0)
    res = reconcile(CascadeReconciler(variant), a, b, q, chans, rng)  # type: ignore[arg-type]
    assert (res.alice_key == a).all()
    flipped = res.bob_key != b
    assert not (flipped & (a == b)).any()
    assert res.leaked_bits == chans[0].ledger.leaked_bits_sent
    assert chans[1].ledger.leaked_bits_sent == 0
