"""Cascade sessions (permutations fixed per session and cached), the binary message header,
and the two-thread Toeplitz hash."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlight.errors import ParameterError
from qlight.qkd.postprocess._cascade_perms import PermutationCache, pass_permutation
from qlight.qkd.postprocess.cascade import CascadeReconciler, block_sizes
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import Message, decode, encode
from qlight.qkd.postprocess.reconcile import reconcile
from qlight.qkd.postprocess.toeplitz import (
    modified_toeplitz_hash,
    random_seed_bits,
    seed_length,
    toeplitz_hash,
)


def _bsc(n: int, q: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, 2, n, dtype=np.uint8)
    return a, a ^ (rng.random(n) < q).astype(np.uint8)


def _run(rec: CascadeReconciler, a: np.ndarray, b: np.ndarray, q: float, seed: int):  # type: ignore[no-untyped-def]
    return reconcile(rec, a, b, q, channel_pair(), np.random.default_rng(seed), inline=True)


# ----------------------------------------------------------------- sessions


@given(
    n=st.integers(2, 4000),
    q=st.sampled_from([0.0, 0.01, 0.05, 0.12]),
    seed=st.integers(0, 2**32),
    variant=st.sampled_from(["original", "optimized"]),
)
@settings(max_examples=25, deadline=None)
def test_cached_permutations_give_exactly_the_uncached_run(
    n: int, q: float, seed: int, variant: str
) -> None:
    rng = np.random.default_rng(seed)
    warm, fresh = (
        CascadeReconciler(variant, session_seed=seed),
        CascadeReconciler(  # type: ignore[arg-type]
            variant,  # type: ignore[arg-type]
            session_seed=seed,
        ),
    )
    a0, b0 = _bsc(n, q, rng)
    a, b = _bsc(n, q, rng)
    _run(warm, a0, b0, q, 1)  # fills both parties' caches
    hits = warm._caches["alice"].hits + warm._caches["bob"].hits
    r_warm = _run(warm, a, b, q, 2)
    r_fresh = _run(fresh, a, b, q, 3)  # other protocol rng: the session seed decides
    assert warm._caches["alice"].hits + warm._caches["bob"].hits > hits
    assert np.array_equal(r_warm.bob_key, r_fresh.bob_key)
    assert (r_warm.leaked_bits, r_warm.channel_uses, r_warm.bytes_sent) == (
        r_fresh.leaked_bits,
        r_fresh.channel_uses,
        r_fresh.bytes_sent,
    )
    flipped = r_warm.bob_key != b
    assert not (flipped & (a == b)).any()  # Bob only ever flips genuine errors
    assert np.array_equal(r_warm.alice_key, a)


def test_session_announces_its_seed_and_each_party_caches_its_own() -> None:
    rec = CascadeReconciler("optimized", session_seed=77)
    a, b = _bsc(20_000, 0.02, np.random.default_rng(0))
    ca, cb = channel_pair()
    res = reconcile(rec, a, b, 0.02, (ca, cb), np.random.default_rng(1), inline=True)
    assert np.array_equal(res.bob_key, a)  # 20 000 bits at 2 %: Cascade-opt corrects all
    n_pass = len(block_sizes("optimized", 0.02, a.size))
    for party in ("alice", "bob"):
        cache = rec._caches[party]
        assert cache.misses == n_pass
        assert cache.hits == 0
    for p, k in enumerate(block_sizes("optimized", 0.02, a.size)):
        cached = rec._caches["bob"].permutation(a.size, k, 77, p)
        assert np.array_equal(cached, pass_permutation(a.size, k, 77, p))
        assert not cached.flags.writeable
    assert rec._caches["bob"].hits == n_pass
    # a second frame with another QBER estimate reuses the uniform permutations
    a2, b2 = _bsc(20_000, 0.04, np.random.default_rng(2))
    reconcile(rec, a2, b2, 0.04, channel_pair(), np.random.default_rng(3), inline=True)
    assert rec._caches["alice"].hits >= 1


def test_cache_stops_storing_at_its_byte_limit() -> None:
    cache = PermutationCache(max_bytes=4 * 1000)
    p1 = cache.permutation(1000, 10, 5, 0)
    p2 = cache.permutation(1000, 10, 5, 1)  # over the limit: computed, not stored
    assert cache.permutation(1000, 10, 5, 0) is p1
    assert cache.permutation(1000, 10, 5, 1) is not p2
    assert np.array_equal(cache.permutation(1000, 10, 5, 1), p2)
    inv = cache.inverse(p1, 1000, 10, 5, 0)
    assert np.array_equal(p1[inv], np.arange(1000))


@pytest.mark.parametrize("bad", [-1, 1 << 62, 1.5, True])
def test_bad_session_seed_is_refused(bad: object) -> None:
    with pytest.raises(ProtocolAbort, match="session_seed"):
        CascadeReconciler(session_seed=bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------- binary header


@given(
    meta=st.dictionaries(
        st.text(max_size=20),
        st.one_of(
            st.integers(-(2**70), 2**70),
            st.floats(allow_nan=False),
            st.booleans(),
            st.text(max_size=50),
        ),
        max_size=6,
    ),
    ints=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=50),
    bits=st.lists(st.integers(0, 1), max_size=200),
    cut=st.integers(0, 10_000),
)
@settings(max_examples=80, deadline=None)
def test_binary_header_round_trip_and_truncation(
    meta: dict[str, int | float | bool | str], ints: list[int], bits: list[int], cut: int
) -> None:
    msg = Message(
        "cascade/x", meta, {"i": np.array(ints, np.int32)}, {"b": np.array(bits, np.uint8)}, 3
    )
    data = encode(msg)
    back = decode(data)
    assert back.kind == msg.kind
    assert back.leaked_bits == 3
    assert dict(back.meta) == meta
    assert [type(v) for v in back.meta.values()] == [type(v) for v in meta.values()]
    assert back.array("i").tolist() == ints
    assert back.array("b").tolist() == bits
    # every proper prefix is refused cleanly (ProtocolAbort, never another exception)
    with pytest.raises(ProtocolAbort, match="malformed"):
        decode(data[: cut % len(data)])


def test_header_limits() -> None:
    with pytest.raises(ParameterError):
        encode(Message("k" * 300))
    with pytest.raises(ParameterError):
        encode(Message("k", {"x": [1]}))  # type: ignore[dict-item]


# ----------------------------------------------------------------- Toeplitz on two cores


@pytest.mark.parametrize(("n", "m"), [(300_000, 1_000), (70_001, 35_000)])
def test_two_thread_hash_equals_one_thread(n: int, m: int) -> None:
    key = np.random.default_rng(n).integers(0, 2, n, dtype=np.uint8)
    s = random_seed_bits(seed_length(m, n))
    assert np.array_equal(toeplitz_hash(key, s, m, workers=2), toeplitz_hash(key, s, m))
    s2 = s[: n - 1]
    assert np.array_equal(
        modified_toeplitz_hash(key, s2, m, workers=2), modified_toeplitz_hash(key, s2, m)
    )
    with pytest.raises(ParameterError, match="workers"):
        toeplitz_hash(key, s, m, workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_row_split_product_equals_the_definition(workers: int) -> None:
    from tests.naive import pa_toeplitz_product, pp_modified_toeplitz

    import qlight.qkd.postprocess.toeplitz as tz

    rng = np.random.default_rng(11)
    # n = 1200, m = 1100: m + n - 1 = 2299 needs 4096 points, each row half 1749 -> 2048:
    # 5 * 2048 < 3 * 4096, so the two-halves path runs (asserted below).
    n, m = 1200, 1100
    assert 5 * tz._pow2(-(-m // 2) + n - 1) < 3 * tz._pow2(m + n - 1)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    got = toeplitz_hash(key, s, m, workers=workers)
    assert got.tolist() == pa_toeplitz_product(key.tolist(), s.tolist(), m)
    # modified (I | T) at n = 2200, m = 1100: T is 1100 x 1100, split as well
    key2 = rng.integers(0, 2, 2200, dtype=np.uint8)
    s2 = rng.integers(0, 2, 2199, dtype=np.uint8)
    got2 = modified_toeplitz_hash(key2, s2, 1100, workers=workers)
    assert got2.tolist() == pp_modified_toeplitz(key2.tolist(), s2.tolist(), 1100)
