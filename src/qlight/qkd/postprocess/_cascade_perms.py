"""Public pass permutations of Cascade, and a per-party cache of them for a session.

Each pass of Cascade shuffles the key with a public permutation derived from a public seed
(``cascade/setup``). Per frame these cost ≈ 40 % of the CPU time of the optimised variant at
10^6 bits (28 permutations for the two parties). Within a *session* — consecutive frames
reconciled with the same announced seed (:class:`~.cascade.CascadeReconciler` with a
``session_seed``) — each party computes every permutation (and Bob its inverse, and both
the block masks of the half-key passes, :mod:`~._cascade_bits`) once and reuses it. The
numba kernels that draw the permutations (Rao–Sandelius shuffle, random half split) live
here too; ``_cascade_kernels`` re-exports them.

Why reusing them is safe
------------------------
*Secrecy*: the permutations are public anyway (sent in clear, or derived from a public
seed). The security statement charges every disclosed parity bit as leakage, λ_EC, whatever
subsets of the key the parities are taken over: by the chain rule of the smooth
min-entropy, H_min^ε(X | E C) ≥ H_min^ε(X | E) − |C| for any classical message C of |C| bits
(Renner, PhD thesis, ETH Zürich (2005), Lemma 3.2.9; Tomamichel et al., Nat. Commun. 3, 634
(2012), Methods), and the leftover hash lemma then uses that bound. Nothing in it needs the
subsets to be fresh or unpredictable.
*Correctness*: the permutations only spread the errors over the blocks. For channel errors
that are independent of the permutation (the BSC model, and any error process fixed before
the session seed is announced), a fixed permutation gives every frame the same error
statistics as a fresh one. An adversary who knows the permutations could place errors that
Cascade does not correct; such a frame fails verification (Toeplitz tag, ε_cor) and is
discarded — a denial of service, which she can cause anyway by disturbing the quantum
channel. The ε_cor guarantee does not depend on the permutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight.qkd.postprocess._cascade_bits import _block_masks

__all__ = ["PermutationCache", "block_masks", "is_half", "pass_permutation"]

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


#: Bytes of permutations (and inverses) one party keeps per session; beyond it, passes are
#: recomputed per frame (at 10^6 bits the 14 passes of the optimised variant take 56 MB for
#: Alice and 112 MB for Bob; at 10^7 the first passes fit).
CACHE_BYTES = 256 * 2**20


def _seed_of(seed: int, p: int) -> int:
    return (seed * 0x9E3779B1 + p * 0x85EBCA77 + 1) % (1 << 63)


def is_half(n: int, k: int) -> bool:
    """True where the blocks of a pass are halves of the key (``k >= n // 2``): its
    permutation is a random half split, and its blocks are few (at most 3)."""
    return 2 * k >= n - 1


_is_half = is_half


def block_masks(perm: NDArray[np.int32], k: int) -> NDArray[np.uint64]:
    """Bit masks of the blocks of a pass (all but the last; ``_cascade_bits._block_masks``)."""
    out: NDArray[np.uint64] = _block_masks(perm, k, (perm.size + 63) // 64)
    return out


def pass_permutation(n: int, k: int, seed: int, p: int) -> NDArray[np.int32]:
    """Public permutation of pass ``p``: uniform (Rao–Sandelius), or a random half split
    where the blocks are halves of the key (``k >= n // 2``, see ``_half_split``)."""
    s = _seed_of(seed, p)
    out: NDArray[np.int32] = _half_split(n, k, s) if _is_half(n, k) else _permutation(n, s)
    return out


@dataclass
class PermutationCache:
    """One party's permutations of a session, keyed by (seed, n, pass, k for half splits).

    The uniform permutations do not depend on the block size, so frames with different
    QBER estimates share them. Arrays are read-only; insertion stops at ``max_bytes``.
    """

    max_bytes: int = CACHE_BYTES
    _perm: dict[tuple[int, int, int, int], NDArray[np.int32]] = field(default_factory=dict)
    _inv: dict[tuple[int, int, int, int], NDArray[np.int32]] = field(default_factory=dict)
    _masks: dict[tuple[int, int, int, int], NDArray[np.uint64]] = field(default_factory=dict)
    _bytes: int = 0
    _lock: Lock = field(default_factory=Lock)
    hits: int = 0
    misses: int = 0

    @staticmethod
    def _key(n: int, k: int, seed: int, p: int) -> tuple[int, int, int, int]:
        return (seed, n, p, k if _is_half(n, k) else -1)

    def _store(self, d: dict[tuple[int, int, int, int], NDArray[Any]],
               key: tuple[int, int, int, int], arr: NDArray[Any]) -> None:  # fmt: skip
        if self._bytes + arr.nbytes <= self.max_bytes:
            arr.setflags(write=False)
            d[key] = arr
            self._bytes += arr.nbytes

    def permutation(self, n: int, k: int, seed: int, p: int) -> NDArray[np.int32]:
        """:func:`pass_permutation`, computed once per key."""
        key = self._key(n, k, seed, p)
        with self._lock:
            perm = self._perm.get(key)
            if perm is not None:
                self.hits += 1
                return perm
            self.misses += 1
        perm = pass_permutation(n, k, seed, p)
        with self._lock:
            self._store(self._perm, key, perm)
        return perm

    def inverse(self, perm: NDArray[np.int32], n: int, k: int, seed: int, p: int
                ) -> NDArray[np.int32]:  # fmt: skip
        """Inverse of the permutation of that key (``perm`` is it), computed once."""
        key = self._key(n, k, seed, p)
        with self._lock:
            inv = self._inv.get(key)
            if inv is not None:
                return inv
        inv = _inverse(perm)
        with self._lock:
            if key in self._perm:
                self._store(self._inv, key, inv)
        out: NDArray[np.int32] = inv
        return out

    def masks(self, perm: NDArray[np.int32], n: int, k: int, seed: int, p: int
              ) -> NDArray[np.uint64]:  # fmt: skip
        """:func:`block_masks` of the permutation of that key (``perm`` is it), computed
        once (n/8 bytes per block but the last; read-only). Keyed by k as well: the
        blocks depend on it even where the permutation does not."""
        key = (seed, n, p, k)
        with self._lock:
            m = self._masks.get(key)
            if m is not None:
                return m
        m = block_masks(perm, k)
        with self._lock:
            if self._key(n, k, seed, p) in self._perm:
                self._store(self._masks, key, m)
        return m
