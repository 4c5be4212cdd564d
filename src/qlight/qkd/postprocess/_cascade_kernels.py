"""Numba kernels of Cascade (private; wrapped by :mod:`qlight.qkd.postprocess.cascade`).

Node states of a pass live in one int8 array: block ``b`` owns the slots
``[b·K2, (b+1)·K2)`` where ``K2 = 2·next_pow2(k)``; slot ``b·K2 + h`` is the node with heap id
``h`` (root 1, children 2h and 2h+1; node ``h`` covers the range obtained by halving the
block with ``mid = (lo + hi) // 2``). State −1: Alice's parity unknown; 0/1: parity of the
errors in the node (Alice's parity XOR Bob's), kept current as Bob flips bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


@njit(**JIT)  # type: ignore[untyped-decorator]
def _splitmix(x: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - numba
    """One splitmix64 step (Steele, Lea & Flood, OOPSLA 2014): (new state, output)."""
    x = x + np.uint64(_GOLDEN)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return x, z ^ (z >> np.uint64(31))


@njit(**JIT)  # type: ignore[untyped-decorator]
def _permutation(n: int, seed: int) -> NDArray[np.int32]:  # pragma: no cover - numba
    """Uniform random permutation of 0..n−1 by the Rao–Sandelius shuffle.

    Rao, Sankhya 23, 305 (1961); Sandelius, Biometrics 18, 73 (1962): every element goes
    to one of ``B = 2^b`` buckets with independent uniform labels, each bucket is shuffled
    by Fisher–Yates, and the buckets are concatenated; the result is a uniform permutation
    (the labels give a uniform ordered set partition, the shuffles a uniform order inside each
    part). With buckets of ≈ 2 000 elements every shuffle stays in the L1 cache, which makes
    it ≈ 3× faster than one Fisher–Yates over a 4 MB array. Randomness: splitmix64 from the
    public seed; each 64-bit output gives ⌊64/b⌋ bucket labels of ``b`` bits, or two 32-bit
    words u for the shuffles, where the index j ∈ [0, i] inside a bucket is
    ⌊u (i + 1) / 2^32⌋ (Lemire, ACM TOMACS 29, 3 (2019)); its bias, < (i + 1)/2^32
    ≤ 10^−6, is irrelevant: the shuffles only need to spread errors, not be secret.
    """
    b = 0
    while b < 12 and (n >> (b + 11)) > 0:
        b += 1
    nbk = 1 << b
    x = np.uint64(seed)
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    lab = np.zeros(n, dtype=np.int32)
    start = np.zeros(nbk + 1, dtype=np.int64)
    if b > 0:
        per = 64 // b  # labels cut from one 64-bit output
        mask = np.uint64(nbk - 1)
        for i0 in range(0, n, per):
            x, z = _splitmix(x)
            for i in range(i0, min(i0 + per, n)):
                lab[i] = np.int64(z & mask)
                z >>= np.uint64(b)
    for i in range(n):
        start[lab[i] + 1] += 1
    for c in range(nbk):
        start[c + 1] += start[c]
    pos = start[:nbk].copy()
    perm = np.empty(n, dtype=np.int32)
    for i in range(n):
        c = lab[i]
        perm[pos[c]] = i
        pos[c] += 1
    z = np.uint64(0)
    have = 0  # 32-bit halves of z not yet used
    for c in range(nbk):
        lo = start[c]
        for i in range(start[c + 1] - lo - 1, 0, -1):
            if have == 0:
                x, z = _splitmix(x)
                have = 2
            j = lo + np.int64(((z & m32) * np.uint64(i + 1)) >> s32)
            z >>= s32
            have -= 1
            t = perm[lo + i]
            perm[lo + i] = perm[j]
            perm[j] = t
    return perm


@njit(**JIT)  # type: ignore[untyped-decorator]
def _half_split(n: int, k: int, seed: int) -> NDArray[np.int32]:  # pragma: no cover - numba
    """Permutation for passes whose blocks are halves of the key (k ≥ n/2).

    Each element gets an independent uniform bit from splitmix64; the elements with bit 0
    come first, then those with bit 1, each group in index order (a stable two-bucket
    Rao–Sandelius partition without the inner shuffles). The bucket sizes miss k by
    ≈ √n/2; the elements that cross the block boundary are then drawn by a partial
    Fisher–Yates from the larger bucket, so that the first block (the first k positions) is
    a uniformly random k-subset (each bit fair and independent, the crossing ones a uniform
    subset of their bucket). Only block membership matters in such a pass — a pair of
    errors is split with the same probability as under a uniform permutation — and the
    order inside a block only fixes how the binary search halves it. O(n) sequential work
    plus O(√n) random swaps, instead of a shuffle of the whole key.
    """
    perm = np.empty(n, dtype=np.int32)
    bits = np.empty(n, dtype=np.uint8)
    x = np.uint64(seed)
    one = np.uint64(1)
    count0 = 0
    for i0 in range(0, n, 64):
        x, z = _splitmix(x)
        for i in range(i0, min(i0 + 64, n)):
            bits[i] = np.uint8(z & one)
            count0 += 1 - int(z & one)
            z >>= one
    ptr = np.empty(2, dtype=np.int64)
    ptr[0] = 0
    ptr[1] = count0
    for i in range(n):  # branch-free: the bits are random, a branch would mispredict
        c = bits[i]
        perm[ptr[c]] = i
        ptr[c] += 1
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    if count0 < k:  # block 0 also takes k − count0 elements of bucket 1: a uniform choice
        for i in range(count0, k):
            x, z = _splitmix(x)
            j = i + np.int64(((z & m32) * np.uint64(n - i)) >> s32)
            t = perm[i]
            perm[i] = perm[j]
            perm[j] = t
    else:  # block 1 takes count0 − k elements of bucket 0: a uniform choice
        for i in range(count0 - 1, k - 1, -1):
            x, z = _splitmix(x)
            j = np.int64(((z & m32) * np.uint64(i + 1)) >> s32)
            t = perm[i]
            perm[i] = perm[j]
            perm[j] = t
    return perm


@njit(**JIT)  # type: ignore[untyped-decorator]
def _inverse(perm: NDArray[np.int32]) -> NDArray[np.int32]:  # pragma: no cover - numba
    inv = np.empty_like(perm)
    for i in range(perm.size):
        inv[perm[i]] = i
    return inv


@njit(**JIT)  # type: ignore[untyped-decorator]
def _prefix_xor(
    key: NDArray[np.uint8], perm: NDArray[np.int32]
) -> NDArray[np.uint8]:  # pragma: no cover
    """``px[i]`` = parity of ``key[perm[:i]]``; a range parity is ``px[hi] ^ px[lo]``."""
    px = np.empty(perm.size + 1, dtype=np.uint8)
    acc = np.uint8(0)
    px[0] = 0
    for i in range(perm.size):
        acc ^= key[perm[i]]
        px[i + 1] = acc
    return px


@njit(**JIT)  # type: ignore[untyped-decorator]
def _range_parities(
    key: NDArray[np.uint8], perm: NDArray[np.int32], lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> NDArray[np.uint8]:  # pragma: no cover - numba
    """Parity of ``key[perm[lo[i]:hi[i]]]`` for each i."""
    out = np.empty(lo.size, dtype=np.uint8)
    for i in range(lo.size):
        acc = np.uint8(0)
        for p in range(lo[i], hi[i]):
            acc ^= key[perm[p]]
        out[i] = acc
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _block_parities(
    key: NDArray[np.uint8], perm: NDArray[np.int32], k: int
) -> NDArray[np.uint8]:  # pragma: no cover
    n = perm.size
    nb = (n + k - 1) // k
    out = np.zeros(nb, dtype=np.uint8)
    for b in range(nb):
        acc = np.uint8(0)
        for p in range(b * k, min(b * k + k, n)):
            acc ^= key[perm[p]]
        out[b] = acc
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _gather(
    key: NDArray[np.uint8], perm: NDArray[np.int32]
) -> NDArray[np.uint8]:  # pragma: no cover
    """Bob's key in the order of a pass: ``pk[i] = key[perm[i]]``.

    Bob keeps one such copy per pass (kept current by :func:`_apply_flips`), so that every
    range parity he needs is a XOR over *contiguous* bytes (vectorised, cache friendly)
    instead of a gather through the permutation.
    """
    pk = np.empty(perm.size, dtype=np.uint8)
    for i in range(perm.size):
        pk[i] = key[perm[i]]
    return pk


@njit(**JIT)  # type: ignore[untyped-decorator]
def _seq_block_parities(pk: NDArray[np.uint8], k: int) -> NDArray[np.uint8]:  # pragma: no cover
    """Parities of the consecutive blocks of ``k`` bytes of ``pk`` (the last may be short)."""
    n = pk.size
    nb = (n + k - 1) // k
    out = np.zeros(nb, dtype=np.uint8)
    for b in range(nb):
        acc = np.uint8(0)
        for p in range(b * k, min(b * k + k, n)):
            acc ^= pk[p]
        out[b] = acc
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _gather_blocks(
    key: NDArray[np.uint8], perm: NDArray[np.int32], k: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:  # pragma: no cover - numba
    """:func:`_gather` and :func:`_seq_block_parities` of its result, in one call."""
    pk = _gather(key, perm)
    return pk, _seq_block_parities(pk, k)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _node_range(h: int, lo: int, hi: int) -> tuple[int, int]:  # pragma: no cover - numba
    """Range of heap node ``h`` inside the block range [lo, hi)."""
    d = 0
    while (h >> (d + 1)) > 0:
        d += 1
    for bit in range(d - 1, -1, -1):
        mid = (lo + hi) // 2
        if (h >> bit) & 1:
            lo = mid
        else:
            hi = mid
    return lo, hi


@njit(**JIT)  # type: ignore[untyped-decorator]
def _apply_flips(
    st: NDArray[np.int8],
    pk: NDArray[np.uint8],
    inv: NDArray[np.int32],
    k: int,
    k2: int,
    flips: NDArray[np.int64],
) -> None:  # pragma: no cover - numba
    """Toggle the error parity of every known node containing a flipped bit, and the bit in
    Bob's permuted copy ``pk`` of the key (:func:`_gather`)."""
    n = inv.size
    for f in range(flips.size):
        pos = inv[flips[f]]
        pk[pos] ^= np.uint8(1)
        b = pos // k
        lo = b * k
        hi = min(lo + k, n)
        base = b * k2
        h = 1
        while True:
            if st[base + h] >= 0:
                st[base + h] ^= 1
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            if pos < mid:
                hi = mid
                h = 2 * h
            else:
                lo = mid
                h = 2 * h + 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _chain_candidates(
    st: NDArray[np.int8], inv: NDArray[np.int32], k: int, k2: int, flips: NDArray[np.int64]
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """Deepest odd known node (global slot) on each flipped bit's chain; −1 where none."""
    n = inv.size
    out = np.full(flips.size, -1, dtype=np.int64)
    for f in range(flips.size):
        pos = inv[flips[f]]
        b = pos // k
        lo = b * k
        hi = min(lo + k, n)
        base = b * k2
        h = 1
        while True:
            if st[base + h] == 1:
                out[f] = base + h
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            if pos < mid:
                hi = mid
                h = 2 * h
            else:
                lo = mid
                h = 2 * h + 1
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _flip_pass(
    st: NDArray[np.int8],
    pk: NDArray[np.uint8],
    inv: NDArray[np.int32],
    k: int,
    k2: int,
    flips: NDArray[np.int64],
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """:func:`_apply_flips` then :func:`_chain_candidates` on one pass, in one call; returns
    only the candidates that exist (the −1 entries dropped). A pass's candidates depend on
    its own node states only, so doing both per pass equals applying the flips to every
    pass first."""
    _apply_flips(st, pk, inv, k, k2, flips)
    cand = _chain_candidates(st, inv, k, k2, flips)
    out: NDArray[np.int64] = cand[cand >= 0]
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _descend_known(
    st: NDArray[np.int8],
    slot: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    k2: int,
) -> None:  # pragma: no cover - numba
    """Walk each search down through children whose error parity is already known."""
    for i in range(slot.size):
        base = (slot[i] // k2) * k2
        h = slot[i] - base
        while hi[i] - lo[i] > 1:
            mid = (lo[i] + hi[i]) // 2
            left = st[base + 2 * h]
            right = st[base + 2 * h + 1]
            if left < 0 and right < 0:
                break
            if left < 0:  # a known parent and one known child give the other child
                left = st[base + h] ^ right
                st[base + 2 * h] = left
            elif right < 0:
                st[base + 2 * h + 1] = st[base + h] ^ left
            e_left = left
            if e_left == 1:
                hi[i] = mid
                h = 2 * h
            else:
                lo[i] = mid
                h = 2 * h + 1
        slot[i] = base + h


@njit(**JIT)  # type: ignore[untyped-decorator]
def _slot_parities(
    px: NDArray[np.uint8], slots: NDArray[np.int64], k: int, k2: int, n: int
) -> tuple[NDArray[np.uint8], bool]:  # pragma: no cover - numba
    """Parity of the left half [lo, mid) of each queried node, from the prefix XOR ``px``.

    Returns ``ok = False`` (and stops) on a slot that is not a splittable node of the pass.
    """
    out = np.zeros(slots.size, dtype=np.uint8)
    nb = (n + k - 1) // k
    for i in range(slots.size):
        s = slots[i]
        if s < 0 or s >= nb * k2:
            return out, False
        b = s // k2
        h = s - b * k2
        if h < 1:
            return out, False
        lo, hi = _node_range(h, b * k, min(b * k + k, n))
        if hi - lo <= 1:
            return out, False
        mid = (lo + hi) // 2
        out[i] = px[mid] ^ px[lo]
    return out, True


@njit(**JIT)  # type: ignore[untyped-decorator]
def _active(
    st: NDArray[np.int8],
    slot: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    k2: int,
    reuse: bool,
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """Advance the searches through known subblocks (if ``reuse``); indices still open."""
    if reuse:
        _descend_known(st, slot, lo, hi, k2)
    cnt = 0
    for i in range(slot.size):
        if hi[i] - lo[i] > 1:
            cnt += 1
    out = np.empty(cnt, dtype=np.int64)
    j = 0
    for i in range(slot.size):
        if hi[i] - lo[i] > 1:
            out[j] = i
            j += 1
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _search_step(
    pk: NDArray[np.uint8],
    st: NDArray[np.int8],
    slot: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    act: NDArray[np.int64],
    alice_left: NDArray[np.uint8],
    k2: int,
    reuse: bool,
) -> None:  # pragma: no cover - numba
    """One bisection of every open search: compare Alice's parity of the left half with
    Bob's (from his permuted key ``pk``, :func:`_gather`), record both children's error
    parities (if ``reuse``) and descend."""
    for t in range(act.size):
        i = act[t]
        mid = (lo[i] + hi[i]) // 2
        acc = np.uint8(0)
        for q in range(lo[i], mid):
            acc ^= pk[q]
        e_left = np.int8(alice_left[t] ^ acc)
        base = (slot[i] // k2) * k2
        h = slot[i] - base
        if reuse:
            st[base + 2 * h] = e_left
            st[base + 2 * h + 1] = st[slot[i]] ^ e_left
        if e_left == 1:
            hi[i] = mid
            slot[i] = base + 2 * h
        else:
            lo[i] = mid
            slot[i] = base + 2 * h + 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _minimal_odd(
    cand: NDArray[np.int64], st: NDArray[np.int8], k2: int
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """The distinct nodes (global slots) of ``cand`` whose error parity is odd and that have
    no odd descendant in ``cand``, sorted: where Bob's next binary searches start.

    Walks each odd node's ancestors (``base + h // 2**j``) once, stopping at one already
    seen, so the whole set costs one hash set and one pass.
    """
    srt = np.sort(cand)
    odd = np.empty(srt.size, dtype=np.int64)
    m = 0
    for i in range(srt.size):
        s = srt[i]
        if (i == 0 or s != srt[i - 1]) and st[s] == 1:
            odd[m] = s
            m += 1
    anc = {np.int64(-1)}  # typed set of int64; -1 is never a slot
    for i in range(m):
        base = (odd[i] // k2) * k2
        h = (odd[i] - base) // 2
        while h >= 1 and (base + h) not in anc:  # an ancestor seen: its own are in anc too
            anc.add(base + h)
            h //= 2
    out = np.empty(m, dtype=np.int64)
    j = 0
    for i in range(m):
        if odd[i] not in anc:
            out[j] = odd[i]
            j += 1
    return out[:j]


@njit(**JIT)  # type: ignore[untyped-decorator]
def _init_ranges(
    slots: NDArray[np.int64], k: int, k2: int, n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:  # pragma: no cover - numba
    """Position range [lo, hi) of each node (global slot) in its pass's permuted key."""
    lo = np.empty(slots.size, dtype=np.int64)
    hi = np.empty(slots.size, dtype=np.int64)
    for i in range(slots.size):
        b = slots[i] // k2
        lo[i], hi[i] = _node_range(slots[i] - b * k2, b * k, min(b * k + k, n))
    return lo, hi


@njit(**JIT)  # type: ignore[untyped-decorator]
def _open_slots(
    st: NDArray[np.int8],
    slot: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    k2: int,
    reuse: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:  # pragma: no cover - numba
    """:func:`_active` plus the ``int32`` slots of the open searches (Bob's next query)."""
    act = _active(st, slot, lo, hi, k2, reuse)
    sl = np.empty(act.size, dtype=np.int32)
    for t in range(act.size):
        sl[t] = np.int32(slot[act[t]])
    return act, sl


@njit(**JIT)  # type: ignore[untyped-decorator]
def _step_and_open(
    pk: NDArray[np.uint8],
    st: NDArray[np.int8],
    slot: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    act: NDArray[np.int64],
    alice_left: NDArray[np.uint8],
    k2: int,
    reuse: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:  # pragma: no cover - numba
    """One round of Bob's searches in one call: :func:`_search_step` with Alice's answer,
    then :func:`_open_slots` for the next query."""
    _search_step(pk, st, slot, lo, hi, act, alice_left, k2, reuse)
    nxt, sl = _open_slots(st, slot, lo, hi, k2, reuse)
    return nxt, sl
