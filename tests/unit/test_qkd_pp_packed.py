"""Bit-packed half-key passes, the lean per-round kernels and their equivalence to the
eager path (engineer C, round 7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import (
    pp_left_half_parity,
    pp_minimal_odd,
    pp_node_range,
    pp_pack64,
    pp_range_parity,
)

from qlight.qkd.postprocess import cascade as mod
from qlight.qkd.postprocess._cascade_bits import _flip_roots, _masked_parities, _pack
from qlight.qkd.postprocess._cascade_kernels import (
    _answer_bits,
    _apply_flips,
    _chain_candidates,
    _minimal_odd,
    _permutation,
    _prefix_xor,
    _slot_parities,
)
from qlight.qkd.postprocess._cascade_perms import (
    PermutationCache,
    block_masks,
    is_half,
    pass_permutation,
)
from qlight.qkd.postprocess.channel import _QueueTransport, channel_pair
from qlight.qkd.postprocess.reconcile import reconcile


def _k2(k: int) -> int:
    return 2 * (1 << max(k - 1, 0).bit_length())


@given(n=st.integers(0, 300), seed=st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_pack_layout_matches_naive(n: int, seed: int) -> None:
    key = np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)
    words = _pack(key)
    assert words.dtype == np.uint64
    assert [int(w) for w in words] == pp_pack64(key.tolist())  # padding bits are zero


@given(n=st.integers(2, 400), seed=st.integers(0, 2**40), data=st.data())
@settings(max_examples=50, deadline=None)
def test_masked_block_parities_equal_the_range_parities(
    n: int, seed: int, data: st.DataObject
) -> None:
    """Every block of a pass (half split or uniform, any k, the last block short or a single
    bit when n is odd) has the parity of its range of the permuted key."""
    k = data.draw(st.sampled_from([n // 2, max(1, n // 2 - 1), data.draw(st.integers(1, n))]))
    perm = pass_permutation(n, k, seed, 3)
    key = np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)
    masks = block_masks(perm, k)
    nb = -(-n // k)
    assert masks.shape == (nb - 1, (n + 63) // 64)
    got = _masked_parities(_pack(key), masks)
    want = [
        pp_range_parity(key.tolist(), perm.tolist(), b * k, min(b * k + k, n)) for b in range(nb)
    ]
    assert got.tolist() == want


@given(n=st.integers(2, 300), seed=st.integers(0, 2**40), data=st.data())
@settings(max_examples=50, deadline=None)
def test_flip_roots_equals_the_full_flip_kernels_on_a_roots_only_pass(
    n: int, seed: int, data: st.DataObject
) -> None:
    """Before any search only the roots of a half-key pass are known; the masks-based flip
    propagation then gives the same root states and candidates as the full kernels."""
    k = data.draw(st.sampled_from([n // 2, (n + 1) // 2]))  # 3 blocks when n is odd, or 2
    perm = pass_permutation(n, k, seed, 5)
    inv = np.argsort(perm).astype(np.int32)
    k2, nb = _k2(k), -(-n // k)
    rng = np.random.default_rng(seed)
    roots = rng.integers(0, 2, nb).astype(np.int8)
    st_full = np.full(nb * k2, -1, dtype=np.int8)
    st_full[np.arange(nb) * k2 + 1] = roots
    pk = np.zeros(n, dtype=np.uint8)
    flips = np.unique(rng.integers(0, n, data.draw(st.integers(1, 9)))).astype(np.int64)
    got = _flip_roots(roots, block_masks(perm, k), k2, flips)
    _apply_flips(st_full, pk, inv, k, k2, flips)
    want = _chain_candidates(st_full, inv, k, k2, flips)
    assert np.array_equal(roots, st_full[np.arange(nb) * k2 + 1])
    assert np.array_equal(got, want[want >= 0])


@given(n=st.integers(2, 300), seed=st.integers(0, 2**40), data=st.data())
@settings(max_examples=40, deadline=None)
def test_answer_bits_are_the_packed_slot_parities(n: int, seed: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(2, n))
    k2 = _k2(k)
    perm = _permutation(n, seed)
    key = np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)
    px = _prefix_xor(key, perm)
    nb = -(-n // k)
    ok_slots = []  # splittable nodes: at least 2 bits in the range
    for b in range(nb):
        for h in range(1, k2):
            lo, hi = pp_node_range(h, b * k, min(b * k + k, n))
            if hi - lo > 1:
                ok_slots.append(b * k2 + h)
    slots = np.array(data.draw(st.lists(st.sampled_from(ok_slots), max_size=40)), np.int32)
    got, ok = _answer_bits(px, slots, k, k2, n)
    par, ok2 = _slot_parities(px, slots, k, k2, n)
    assert ok
    assert ok2
    assert got.tobytes() == np.packbits(par).tobytes()
    for t, s in enumerate(slots.tolist()):
        assert par[t] == pp_left_half_parity(key.tolist(), perm.tolist(), k, k2, s)


@given(
    k=st.sampled_from([1, 3, 64, 1000, 5000]),
    nb=st.integers(1, 3),
    seed=st.integers(0, 2**32),
    m=st.integers(0, 60),
)
@settings(max_examples=40, deadline=None)
def test_minimal_odd_leaves_the_node_states_unchanged(k: int, nb: int, seed: int, m: int) -> None:
    """The ancestor marks (state + 4) are all removed again, also for deep trees."""
    k2 = _k2(k)
    rng = np.random.default_rng(seed)
    st_arr = rng.integers(-1, 2, nb * k2).astype(np.int8)
    before = st_arr.copy()
    depth = rng.integers(0, k2.bit_length() - 1, m)  # nodes at every depth, chains shared
    heap = (1 << depth) + rng.integers(0, 1 << 62, m) % (1 << depth)
    cand = (rng.integers(0, nb, m) * k2 + heap).astype(np.int64)
    got = _minimal_odd(cand, st_arr, k2)
    assert np.array_equal(st_arr, before)
    assert got.tolist() == pp_minimal_odd(cand.tolist(), before.tolist(), k2)


def test_cache_keeps_masks_per_block_size_and_read_only() -> None:
    n, seed = 1001, 9
    cache = PermutationCache()
    rows = []
    for k in (500, 501):  # 3 blocks (500, 500, 1), or 2 (501, 500)
        assert is_half(n, k)
        perm = cache.permutation(n, k, seed, 4)
        m1 = cache.masks(perm, n, k, seed, 4)
        assert np.array_equal(m1, block_masks(pass_permutation(n, k, seed, 4), k))
        assert cache.masks(perm, n, k, seed, 4) is m1
        assert not m1.flags.writeable
        rows.append(m1.shape[0])
    assert rows == [2, 1]


def _frames(
    monkeypatch: pytest.MonkeyPatch,
    lazy: bool,
    n: int,
    q: float,
    variant: str,
    session: int | None,
    seed: int,
) -> tuple[list[bytes], int, int, bytes]:
    """All frames (bytes, in order) of two consecutive frames of one reconciler."""
    sent: list[bytes] = []
    orig = _QueueTransport.send_frame

    def spy(self: _QueueTransport, data: bytes) -> None:
        sent.append(bytes(data))
        orig(self, data)

    monkeypatch.setattr(_QueueTransport, "send_frame", spy)
    monkeypatch.setattr(mod, "_LAZY_HALF", lazy)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n, dtype=np.uint8)
    b = a ^ (rng.random(n) < q).astype(np.uint8)
    rec = mod.CascadeReconciler(variant, session_seed=session)  # type: ignore[arg-type]
    leak = uses = 0
    key = b""
    for frame in range(2):
        psk = bytes(range(256)) * 64  # fixed, so the tags are comparable
        r = reconcile(
            rec, a, b, q, channel_pair(psk=psk), np.random.default_rng(frame), inline=True
        )
        leak, uses, key = leak + r.leaked_bits, uses + r.channel_uses, key + r.bob_key.tobytes()
    return sent, leak, uses, key


@given(
    n=st.sampled_from([10, 11, 200, 1001, 4096]),
    q=st.sampled_from([0.01, 0.05, 0.1]),
    variant=st.sampled_from(["optimized", "original"]),
    session=st.sampled_from([None, 77]),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=25, deadline=None)
def test_bit_packed_half_passes_send_exactly_the_eager_frames(
    n: int, q: float, variant: str, session: int | None, seed: int
) -> None:
    """The lazy path (block parities from masks; copies, node states and prefix XORs only
    once a half-key block is odd) sends byte for byte the frames of the eager path, with the
    same leak, and Bob ends with the same key."""
    with pytest.MonkeyPatch.context() as mp:
        lazy = _frames(mp, True, n, q, variant, session, seed)
    with pytest.MonkeyPatch.context() as mp:
        eager = _frames(mp, False, n, q, variant, session, seed)
    assert lazy == eager


def test_half_passes_are_searched_when_they_find_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """At n = 200, Q = 10 % the half-key passes find errors: a half pass is materialised
    (and one whose block turned even again is skipped), and Bob still ends with Alice's key,
    having flipped only genuine errors."""
    seen: list[tuple[bool, bool]] = []
    orig = mod._BobState._searchable

    def spy(self: mod._BobState, p: int) -> mod._Pass | None:
        was_half = isinstance(self.passes[p], mod._HalfPass)
        out = orig(self, p)
        seen.append((was_half, out is not None))
        return out

    monkeypatch.setattr(mod._BobState, "_searchable", spy)
    for seed in (0, 4):  # seeds whose runs take both branches (found by a scan)
        rng = np.random.default_rng(seed)
        a = rng.integers(0, 2, 200, dtype=np.uint8)
        b = a ^ (rng.random(200) < 0.1).astype(np.uint8)
        r = reconcile(
            mod.CascadeReconciler(),
            a,
            b,
            0.1,
            channel_pair(),
            np.random.default_rng(seed),
            inline=True,
        )
        assert np.array_equal(r.bob_key, a)
    assert (True, True) in seen
    assert (True, False) in seen
