"""Numba kernel of the polynomial hash mod p = 2^127 − 1 (private; see ``channel.poly_hash``).

Numbers below 2^128 are held as four 32-bit limbs in ``uint64`` words, so that every limb
product fits in 64 bits; 2^128 ≡ 2 (mod p) folds the 256-bit product back (Bernstein, "The
Poly1305-AES message-authentication code", FSE 2005, Sec. 3, uses the same reduction for
2^130 − 5). The result equals the big-integer reference bit for bit (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT

_M32 = 0xFFFFFFFF


@njit(**JIT)  # type: ignore[untyped-decorator]
def _fold127(v: NDArray[np.uint64]) -> None:  # pragma: no cover - numba
    """v (5 limbs, < 2^160) ← v mod* 2^127 + (v >> 127): one folding step (value mod p kept)."""
    m32 = np.uint64(_M32)
    hi = (v[3] >> np.uint64(31)) | (v[4] << np.uint64(1))
    v[3] &= np.uint64(0x7FFFFFFF)
    v[4] = np.uint64(0)
    carry = hi
    for k in range(4):
        w = v[k] + carry
        v[k] = w & m32
        carry = w >> np.uint64(32)
    v[4] = carry


@njit(**JIT)  # type: ignore[untyped-decorator]
def _poly_hash_limbs(r: NDArray[np.uint64], data: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """h ← ((h + c_i) · r) mod (2^127 − 1) over the 15-byte chunks of ``data``.

    ``data`` is already terminated (the trailing 1 byte) and zero-padded to a multiple of 15
    bytes; ``r`` holds four 32-bit limbs (little-endian). Returns h as four limbs.
    """  # pragma: no cover - numba
    m32 = np.uint64(_M32)
    s32 = np.uint64(32)
    h = np.zeros(5, dtype=np.uint64)
    col = np.zeros(9, dtype=np.uint64)
    for off in range(0, data.size, 15):
        c0 = np.uint64(0)
        c1 = np.uint64(0)
        c2 = np.uint64(0)
        c3 = np.uint64(0)
        for t in range(4):
            c0 |= np.uint64(data[off + t]) << np.uint64(8 * t)
            c1 |= np.uint64(data[off + 4 + t]) << np.uint64(8 * t)
            c2 |= np.uint64(data[off + 8 + t]) << np.uint64(8 * t)
        for t in range(3):
            c3 |= np.uint64(data[off + 12 + t]) << np.uint64(8 * t)
        # h + c (h < p, c < 2^120: the sum is < 2^128)
        w = h[0] + c0
        h[0] = w & m32
        w = h[1] + c1 + (w >> s32)
        h[1] = w & m32
        w = h[2] + c2 + (w >> s32)
        h[2] = w & m32
        w = h[3] + c3 + (w >> s32)
        h[3] = w & m32
        h[4] = w >> s32
        # (h + c) · r as 8 limbs: split every 64-bit limb product into its 32-bit halves
        for k in range(9):
            col[k] = np.uint64(0)
        for i in range(5):
            if h[i] == 0:
                continue
            for j in range(4):
                p = h[i] * r[j]
                if i + j < 8:
                    col[i + j] += p & m32
                    col[i + j + 1] += p >> s32
        carry = np.uint64(0)
        for k in range(9):
            w = col[k] + carry
            col[k] = w & m32
            carry = w >> s32
        # x = L + 2^128 H ≡ L + 2 H (mod p)
        carry = np.uint64(0)
        for k in range(4):
            w = col[k] + (col[k + 4] << np.uint64(1)) + carry
            h[k] = w & m32
            carry = w >> s32
        h[4] = carry + (col[8] << np.uint64(1))
        _fold127(h)
        _fold127(h)
        if h[0] == m32 and h[1] == m32 and h[2] == m32 and h[3] == np.uint64(0x7FFFFFFF):
            h[0] = h[1] = h[2] = h[3] = np.uint64(0)
    return h[:4].copy()


def poly_hash_fast(r: int, data: bytes) -> int:
    """Numba twin of ``channel.poly_hash`` (same value; ``0 <= r < 2^127 − 1``)."""
    n = len(data) + 1
    buf = np.zeros(-(-n // 15) * 15, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    buf[len(data)] = 1
    rl = np.array([(r >> (32 * k)) & _M32 for k in range(4)], dtype=np.uint64)
    h = _poly_hash_limbs(rl, buf)
    return int(h[0]) | int(h[1]) << 32 | int(h[2]) << 64 | int(h[3]) << 96
