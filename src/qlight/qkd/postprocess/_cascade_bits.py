"""Bit-packed kernels of Cascade for the passes whose blocks are halves of the key (private).

From the fourth pass on, the optimised Cascade (Martinez-Mateo et al., QIC 15, 453 (2015),
"Cascade opt. (8)") splits the key into two halves per pass (``k = n/2``), and at QBER ≤ 5 %
almost all of those passes find every block even: they only *confirm* the key. Such a pass
needs nothing but the parity of each block, and a block is a fixed public subset of the key
positions. With the key packed 64 bits per word (``_pack``, 125 kB per 10^6 bits, resident
in the L2 cache) and each block given as a bit mask over the key positions
(:func:`_block_masks`, computed once per public permutation and cached in a session), a block
parity is the parity of ``XOR_w (key[w] & mask[w])``: 15 625 AND/XOR word operations per
10^6 bits instead of 10^6 gathers through a permutation plus a copy. Only when a block
becomes odd does Bob build his permuted copy and node states of that pass (the ordinary
search path of :mod:`~._cascade_kernels`), and Alice her prefix XOR. What crosses the
channel is unchanged (the same parities, the same frames).

Layout: bit ``i`` of the key is bit ``i % 64`` of word ``i // 64`` (``numpy.packbits`` with
``bitorder="little"`` viewed as little-endian ``uint64``); padding bits are zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT


def _pack(key: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """The 0/1 bytes of ``key`` packed 64 per ``uint64`` word (layout: module docstring)."""
    b = np.packbits(key, bitorder="little")
    pad = (-b.size) % 8
    if pad:
        b = np.concatenate((b, np.zeros(pad, dtype=np.uint8)))
    out: NDArray[np.uint64] = b.view("<u8").astype(np.uint64, copy=False)
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _parity64(x: np.uint64) -> np.uint8:  # pragma: no cover - numba
    """Parity of the set bits of one 64-bit word (XOR folding)."""
    x ^= x >> np.uint64(32)
    x ^= x >> np.uint64(16)
    x ^= x >> np.uint64(8)
    x ^= x >> np.uint64(4)
    x ^= x >> np.uint64(2)
    x ^= x >> np.uint64(1)
    return np.uint8(x & np.uint64(1))


@njit(**JIT)  # type: ignore[untyped-decorator]
def _block_masks(
    perm: NDArray[np.int32], k: int, n_words: int
) -> NDArray[np.uint64]:  # pragma: no cover - numba
    """Row ``b`` (``b < nb − 1``): the key positions ``perm[b·k : (b+1)·k]`` of block ``b``
    as a bit mask; the last block is the complement of the others and has no row."""
    n = perm.size
    nb = (n + k - 1) // k
    out = np.zeros((max(nb - 1, 0), n_words), dtype=np.uint64)
    one = np.uint64(1)
    for b in range(nb - 1):
        for j in range(b * k, (b + 1) * k):
            i = perm[j]
            out[b, i >> 6] |= one << np.uint64(i & 63)
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _masked_parities(
    words: NDArray[np.uint64], masks: NDArray[np.uint64]
) -> NDArray[np.uint8]:  # pragma: no cover - numba
    """Parities of all blocks of a pass: ``parity(key & mask_b)`` for each row, and the last
    block's as the key's total parity XOR the others (the blocks partition the key)."""
    nb = masks.shape[0] + 1
    out = np.zeros(nb, dtype=np.uint8)
    tot = np.uint64(0)
    for w in range(words.size):
        tot ^= words[w]
    last = _parity64(tot)
    for b in range(nb - 1):
        acc = np.uint64(0)
        for w in range(words.size):
            acc ^= words[w] & masks[b, w]
        out[b] = _parity64(acc)
        last ^= out[b]
    out[nb - 1] = last
    return out


@njit(**JIT)  # type: ignore[untyped-decorator]
def _flip_roots(
    roots: NDArray[np.int8], masks: NDArray[np.uint64], k2: int, flips: NDArray[np.int64]
) -> NDArray[np.int64]:  # pragma: no cover - numba
    """Flip propagation into a pass whose only known nodes are its block roots.

    Toggles the error parity ``roots[b]`` of the block holding each flipped bit (found by
    its mask bit), then returns, per flipped bit whose block is now odd, the block's root
    slot ``b·K2 + 1`` — what :func:`~._cascade_kernels._flip_pass` returns for such a pass.
    """
    nb = roots.size
    blk = np.empty(flips.size, dtype=np.int64)
    one = np.uint64(1)
    for f in range(flips.size):
        i = flips[f]
        b = nb - 1
        for c in range(nb - 1):
            if (masks[c, i >> 6] >> np.uint64(i & 63)) & one:
                b = c
                break
        blk[f] = b
        roots[b] ^= 1
    cnt = 0
    for f in range(flips.size):
        if roots[blk[f]] == 1:
            cnt += 1
    out = np.empty(cnt, dtype=np.int64)
    j = 0
    for f in range(flips.size):
        if roots[blk[f]] == 1:
            out[j] = blk[f] * k2 + 1
            j += 1
    return out
