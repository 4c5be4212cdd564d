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
def _permutation(n: int, seed: int) -> NDArray[np.int32]:  # pragma: no cover - numba
    """Fisher–Yates shuffle of 0..n−1 driven by splitmix64 (Steele et al., OOPSLA 2014).

    The index j ∈ [0, i] is ⌊(z_hi · (i + 1)) / 2^32⌋ from the top 32 bits of each output
    (Lemire, ACM TOMACS 29, 3 (2019)); the bias, < (i + 1)/2^32, is below 2.4e−4 for
    n ≤ 10^6 and irrelevant here — the shuffles only need to spread errors, not be secret.
    """
    perm = np.arange(n).astype(np.int32)
    x = np.uint64(seed)
    g = np.uint64(_GOLDEN)
    m1 = np.uint64(_M1)
    m2 = np.uint64(_M2)
    s32 = np.uint64(32)
    for i in range(n - 1, 0, -1):
        x = x + g
        z = x
        z = (z ^ (z >> np.uint64(30))) * m1
        z = (z ^ (z >> np.uint64(27))) * m2
        z = z ^ (z >> np.uint64(31))
        j = np.int64(((z >> s32) * np.uint64(i + 1)) >> s32)
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
    for p in range(n):
        out[p // k] ^= key[perm[p]]
    return out


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
    inv: NDArray[np.int32],
    k: int,
    k2: int,
    flips: NDArray[np.int64],
) -> None:  # pragma: no cover - numba
    """Toggle the error parity of every known node containing a flipped bit."""
    n = inv.size
    for f in range(flips.size):
        pos = inv[flips[f]]
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
