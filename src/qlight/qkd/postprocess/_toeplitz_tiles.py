"""Tiled FFT Toeplitz product: long keys as many short transforms, exact over GF(2).

Tiling
------
Cut ``T`` (``m × n``, ``T[i, j] = s[i − j + n − 1]``) into ``B × B`` tiles: row block ``I``
(rows ``[IB, IB + B)``) and column block ``J`` (columns ``[JB, JB + B)``). Entry ``(a, b)``
of tile ``(I, J)`` is ``s[(I − J)B + a − b + n − 1]``, so every tile is itself the ``B × B``
Toeplitz matrix of the ``2B − 1`` seed bits ``σ_d[t] = s[dB + t + n − B]``, ``d = I − J``
(bits outside ``s`` only meet zero-padded key columns or discarded rows and are taken as 0).
Hence ``(T x)_I = Σ_J (σ_{I−J} ∗ x_J)[B − 1 : 2B − 1]``: the key chunk ``x_J`` and the seed
segment ``σ_d`` are each transformed once (``⌈n/B⌉`` and ``⌈m/B⌉ + ⌈n/B⌉ − 1`` real FFTs of
length ``L = 2B``), the products are accumulated per row block in the frequency domain, and
one inverse FFT per row block gives the block. The cyclic convolution of length ``2B`` is
exact at the kept entries: the linear convolution of a ``2B − 1``-bit segment with a
``B``-bit chunk has support ``[0, 3B − 3]``; entry ``k ∈ [B − 1, 2B − 1)`` of the cyclic
one adds only the linear entries ``k`` and ``k + 2B ≥ 3B − 1`` (zero). With ``B = 2^19`` a
``10^7``-bit key needs 39 transforms of ``2^20`` points (fast: they fit the caches) instead
of three of ``2^24``.

Rounding bound of the accumulated tile
--------------------------------------
Percival (Math. Comp. 72, 387 (2003), Thm 5.1) bounds a single FFT product: the computed
spectra differ from the exact ones by at most a relative 2-norm error per stage, the
pointwise product adds ``ε√5`` per element, the inverse again a relative error per stage,
and every error term is proportional to ``‖X‖₂‖Y‖₂ = L‖a‖₂‖b‖₂``, which gives
``‖z' − z‖∞ < ‖a‖₂‖b‖₂ G`` with ``G = (1+ε)^{3k}(1+ε√5)^{3k+1}(1+β)^{3k} − 1``. For the sum
``Σ_J A_J ⊙ B_J`` the same steps apply term by term (triangle inequality:
``‖Σ_J A_J ⊙ B_J‖₂ ≤ Σ_J ‖A_J‖₂‖B_J‖₂``), and the ``⌈n/B⌉ − 1`` complex additions of the
accumulation add at most one factor ``(1 + ε)`` each to every term. The error of row block
``I`` is therefore below ``Σ_J ‖σ_{I−J}‖₂ ‖x_J‖₂ · [(1 + G)(1 + ε)^{⌈n/B⌉} − 1]``, with
``‖·‖₂² `` the popcounts — the bound of one convolution whose norm product is the sum of
the tiles' (by Cauchy–Schwarz at most ``√(2|s||x|)``: every seed bit lies in at most two
segments of one row block). :func:`tiled_toeplitz` evaluates it per row block and refuses
(``ParameterError``) at 1/4; every entry is also checked to lie within 1/4 of an integer.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError
from qlight.qkd.postprocess._toeplitz_fft import FftPair

__all__ = ["TILE_BITS", "Runner", "round_parity", "tiled_error_bound", "tiled_toeplitz"]

#: Tile size ``B`` (transform length ``2B = 2^20``): measured fastest per point here.
TILE_BITS = 1 << 19

_EPS = 2.0**-53
_LOCAL = threading.local()

Runner = Callable[[list[Callable[[], None]]], None]


@njit(**JIT)  # type: ignore[untyped-decorator]
def round_parity(
    conv: NDArray[np.float64], start: int, m: int
) -> tuple[NDArray[np.uint8], float]:  # pragma: no cover - numba
    """Parity of the nearest integer of ``conv[start:start+m]`` and the largest distance to it
    (one pass instead of four array passes)."""
    out = np.empty(m, dtype=np.uint8)
    worst = 0.0
    for i in range(m):
        v = conv[start + i]
        r = np.floor(v + 0.5)
        d = abs(v - r)
        if d > worst:
            worst = d
        out[i] = np.uint8(np.int64(r) & 1)
    return out, worst


@njit(**JIT)  # type: ignore[untyped-decorator]
def _accumulate(
    spec_x: NDArray[np.complex128], spec_s: NDArray[np.complex128], acc: NDArray[np.complex128]
) -> None:  # pragma: no cover - numba
    """``acc[I] = Σ_J spec_s[I − J + nJ − 1] · spec_x[J]``, in cache-sized frequency chunks
    (every chunk of every spectrum is read once), terms added in order of ``J``."""
    n_j, h = spec_x.shape
    n_i = acc.shape[0]
    chunk = 1024
    for f0 in range(0, h, chunk):
        f1 = min(h, f0 + chunk)
        for i in range(n_i):
            for f in range(f0, f1):
                acc[i, f] = 0.0
            for j in range(n_j):
                d = i - j + n_j - 1
                for f in range(f0, f1):
                    acc[i, f] += spec_s[d, f] * spec_x[j, f]


def _scratch(length: int) -> NDArray[np.float64]:
    """This thread's float buffer of ``length`` points."""
    buf: NDArray[np.float64] | None = getattr(_LOCAL, "buf", None)
    if buf is None or buf.size != length:
        buf = np.empty(length, dtype=np.float64)
        _LOCAL.buf = buf
    return buf


def _segment_popcounts(
    x: NDArray[np.uint8], s: NDArray[np.uint8], m: int, tile: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Popcounts of the key chunks and of the seed segments σ_d (out-of-range bits = 0)."""
    n = x.size
    n_j, n_i = -(-n // tile), -(-m // tile)
    pop_x = np.array([np.count_nonzero(x[j * tile : (j + 1) * tile]) for j in range(n_j)])
    pop_s = np.empty(n_i + n_j - 1, dtype=np.int64)
    for d in range(pop_s.size):
        start = (d - n_j) * tile + n
        lo, hi = max(start, 0), max(min(start + 2 * tile - 1, s.size), 0)
        pop_s[d] = np.count_nonzero(s[lo:hi])
    return pop_x.astype(np.int64), pop_s


def tiled_error_bound(
    pop_x: NDArray[np.int64], pop_s: NDArray[np.int64], n_rows: int, growth: float
) -> float:
    """Largest per-row-block bound ``Σ_J √(|σ_{I−J}||x_J|) [(1 + G)(1 + ε)^{nJ} − 1]``.

    ``growth`` is ``log(1 + G)`` of one FFT product at the tile's transform length
    (``log1p(fft_error_bound(L, 1, 1))``).
    """
    n_j = pop_x.size
    worst = 0.0
    for i in range(n_rows):
        d = i - np.arange(n_j) + n_j - 1
        worst = max(worst, float(np.sqrt(pop_s[d] * pop_x).sum()))
    return worst * math.expm1(growth + n_j * math.log1p(_EPS))


def tiled_toeplitz(
    x: NDArray[np.uint8],
    s: NDArray[np.uint8],
    m: int,
    pair: FftPair,
    growth: float,
    run: Runner,
    tile: int = TILE_BITS,
) -> NDArray[np.uint8]:
    """``T x mod 2`` (``T[i, j] = s[i − j + n − 1]``, ``m`` rows) by ``B × B`` tiles.

    ``run`` executes a list of independent jobs (on one thread or several); every job
    writes its own row of a spectrum array and uses its own thread's scratch buffer.
    """
    rfft, irfft = pair
    n = x.size
    length = 2 * tile
    n_j, n_i = -(-n // tile), -(-m // tile)
    n_d = n_i + n_j - 1
    pop_x, pop_s = _segment_popcounts(x, s, m, tile)
    if tiled_error_bound(pop_x, pop_s, n_i, growth) >= 0.25:
        raise ParameterError("key_bits", n, "is too long for a provably exact FFT hash")
    half = tile + 1
    spec_x = np.empty((n_j, half), dtype=np.complex128)
    spec_s = np.empty((n_d, half), dtype=np.complex128)

    def key_job(j: int) -> Callable[[], None]:
        def job() -> None:
            buf = _scratch(length)
            chunk = x[j * tile : min(n, (j + 1) * tile)]
            buf[: chunk.size] = chunk
            buf[chunk.size :] = 0.0
            rfft(buf, spec_x[j])

        return job

    def seed_job(d: int) -> Callable[[], None]:
        def job() -> None:
            buf = _scratch(length)
            start = (d - n_j) * tile + n
            lo, hi = max(start, 0), min(start + 2 * tile - 1, s.size)
            buf[:] = 0.0
            if hi > lo:
                buf[lo - start : hi - start] = s[lo:hi]
            rfft(buf, spec_s[d])

        return job

    run([key_job(j) for j in range(n_j)] + [seed_job(d) for d in range(n_d)])
    acc = np.empty((n_i, half), dtype=np.complex128)
    _accumulate(spec_x, spec_s, acc)
    out = np.empty(m, dtype=np.uint8)
    worst = [0.0] * n_i

    def row_job(i: int) -> Callable[[], None]:
        def job() -> None:
            buf = _scratch(length)
            irfft(acc[i], length, buf)
            rows = min(tile, m - i * tile)
            bits, worst[i] = round_parity(buf, tile - 1, rows)
            out[i * tile : i * tile + rows] = bits

        return job

    run([row_job(i) for i in range(n_i)])
    if max(worst) >= 0.25:  # pragma: no cover - broken FFT only
        raise ArithmeticError("FFT convolution is not within 1/4 of an integer")
    return out
