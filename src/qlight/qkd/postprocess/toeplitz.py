"""Privacy amplification by Toeplitz hashing, computed exactly over GF(2) with an FFT.

A Toeplitz matrix ``T`` of size ``m × n`` over GF(2) is fixed by its ``m + n − 1`` diagonal
bits ``s``: ``T[i, j] = s[i − j + n − 1]``. The family ``{x ↦ T x}`` over uniformly random
seeds is 2-universal (Krawczyk, "LFSR-based hashing and authentication", CRYPTO '94,
LNCS 839, pp. 129–139, Sec. 3), so by the leftover hash lemma (Impagliazzo, Levin, Luby,
STOC '89; Tomamichel, Schaffner, Smith, Renner, IEEE Trans. Inf. Theory 57, 5524 (2011),
Lemma 3) the hashed key is ε-close to uniform when ``m`` is set by the finite-key formula
(:mod:`qlight.qkd.postprocess.pa_length`).

Computation
-----------
``(T x)_i = Σ_j s[i − j + n − 1] x_j = (s ∗ x)[i + n − 1]``: the product is the middle ``m``
entries of the integer convolution of the seed with the key, reduced mod 2. The convolution
is a cyclic one of power-of-two length ``L ≥ m + n − 1`` (the wrap-around only touches the
first ``n − 1`` entries, which are discarded), computed with float64 real FFTs and rounded.

Why the rounding is exact
-------------------------
The exact entries are integers in ``[0, n]``. Percival, "Rapid multiplication modulo the sum
and difference of highly composite numbers", Math. Comp. 72, 387–395 (2003), Theorem 5.1,
bounds the error of a radix-2 FFT convolution of length ``L = 2^k`` in IEEE double precision::

    ‖z' − z‖_∞ < ‖s‖₂ ‖x‖₂ [(1 + ε)^{3k} (1 + ε√5)^{3k+1} (1 + β)^{3k} − 1],  ε = 2^−53,

with ``β`` the error of the precomputed twiddle factors. For 0/1 vectors ``‖s‖₂ ‖x‖₂ =
√(|s| |x|)`` (popcounts). We evaluate the bound with ``k + 2`` in place of ``k`` (a real FFT
is a half-length complex FFT plus one extra twiddle pass, and pocketfft's mixed radix-4
passes do no more rounding steps per element than two radix-2 passes) and a twiddle error
``β = 4ε`` (pocketfft computes twiddles from exactly-reduced angles with error ≲ ε). At
``n = 10^7`` (``L = 2^24``) the bound is below ``10^−6``; rounding to the nearest integer is
exact as long as the bound is below 1/2. :func:`fft_error_bound` computes it for every call and the
hash refuses (``ParameterError``) where it would reach 1/4 — far beyond any key length
this package handles (about 10^11 bits). The code also checks that every entry lies within
1/4 of an integer, which catches a broken FFT library.

Back ends, tiles, streams
-------------------------
The transforms come from numpy, ``scipy.fft``, Intel MKL (``mkl_fft``) or cuFFT (CuPy)
(:mod:`._toeplitz_fft`, :mod:`._toeplitz_gpu`); with pocketfft, keys with
``m + n − 1 > 2^20`` are hashed by ``2^19 × 2^19`` tiles accumulated in the frequency domain
(:mod:`._toeplitz_tiles`, which states the bound of the accumulated tile); streams of blocks
go over several cores with :mod:`.toeplitz_batch`. Where the CPU has PCLMULQDQ the default
back end is neither: :mod:`._gf2_clmul` multiplies bit-packed words carry-lessly (transposed
Karatsuba middle product), exact without any rounding argument and faster than every FFT.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight._validation import check_bits
from qlight.errors import ParameterError
from qlight.qkd.postprocess._gf2_clmul import clmul_toeplitz_bits
from qlight.qkd.postprocess._toeplitz_fft import FftPair, fft_pair, resolve_backend
from qlight.qkd.postprocess._toeplitz_gpu import cupy_module, gpu_convolution_bits
from qlight.qkd.postprocess._toeplitz_tiles import TILE_BITS, Runner, tiled_toeplitz
from qlight.qkd.postprocess._toeplitz_tiles import round_parity as _round_parity

__all__ = [
    "fft_error_bound",
    "modified_seed_length",
    "modified_toeplitz_hash",
    "random_seed_bits",
    "seed_length",
    "toeplitz_hash",
]

_EPS = 2.0**-53


def seed_length(n_out: int, n_in: int) -> int:
    """Number of seed bits ``m + n − 1`` of an ``m × n`` Toeplitz matrix."""
    return int(n_out) + int(n_in) - 1


def random_seed_bits(n_bits: int) -> NDArray[np.uint8]:
    """``n_bits`` uniformly random bits (0/1 ``uint8``) from the operating system's CSPRNG.

    Uses :func:`os.urandom` (the source behind :mod:`secrets`); never a seeded generator,
    because the Toeplitz seed must be unpredictable to Eve until after the quantum phase.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or n_bits < 1:
        raise ParameterError("n_bits", n_bits, "must be an integer >= 1")
    raw = np.frombuffer(os.urandom((int(n_bits) + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw)[: int(n_bits)].copy()


def fft_error_bound(length: int, ones_a: int, ones_b: int) -> float:
    """Worst-case rounding error of the FFT convolution (Percival 2003, Theorem 5.1).

    Parameters
    ----------
    length : int
        Transform length (a power of two).
    ones_a, ones_b : int
        Popcounts of the two 0/1 vectors (their squared Euclidean norms).

    Returns
    -------
    float
        Upper bound of ``max |computed − exact|`` over the convolution, using ``k + 2``
        stages for ``L = 2^k`` and twiddle error ``β = 4ε`` (see the module docstring).
    """
    k = max(int(length - 1).bit_length(), 1) + 2
    beta = 4.0 * _EPS
    growth = (
        3 * k * math.log1p(_EPS)
        + (3 * k + 1) * math.log1p(_EPS * math.sqrt(5.0))
        + 3 * k * math.log1p(beta)
    )
    return math.sqrt(float(ones_a) * float(ones_b)) * math.expm1(growth)


_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    """One shared helper thread for the second forward FFT (created on first use)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="qlight-fft"))
    return _POOL[0]


#: Transform lengths up to this keep their float and spectrum buffers (five arrays, 40 MB at
#: 2^20) per thread between calls instead of allocating fresh multi-MB arrays per call.
_BUFFER_MAX = 1 << 21
_LOCAL = threading.local()

_Buffers = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.complex128],
    NDArray[np.complex128],
    NDArray[np.float64],
]


_ALLOCATOR_WARM: list[bool] = []


def _warm_allocator() -> None:
    """Free one 24 MB block, once per process, so that pocketfft's scratch is reused.

    pocketfft allocates an ``L``-point scratch array in every transform. glibc serves
    allocations above its *dynamic* mmap threshold by a fresh ``mmap`` — page-faulted and
    zeroed by the kernel on each call — and raises the threshold only when a larger mmapped
    block is freed (mallopt(3), M_MMAP_THRESHOLD: "dynamic mmap threshold"; at most 32 MB).
    Repeated same-size transforms therefore never leave the slow path in a fresh process:
    measured here, one 2^20-point real FFT took 13–14 ms before and 7 ms after one larger
    block had been freed. Freeing a 24 MB block does what any long-running process does
    anyway; it changes no result (elsewhere than glibc it does nothing).
    """
    if not _ALLOCATOR_WARM:
        block = np.empty(3 << 20, dtype=np.float64)  # 24 MB, mmapped, never touched
        del block
        _ALLOCATOR_WARM.append(True)


def _buffers(length: int) -> _Buffers:
    """This thread's (real a, real b, spectrum a, spectrum b, result) arrays of ``length``."""
    _warm_allocator()
    cached: _Buffers | None = getattr(_LOCAL, "buffers", None)
    if cached is not None and cached[0].size == length:
        return cached
    half = length // 2 + 1
    bufs: _Buffers = (
        np.empty(length, dtype=np.float64),
        np.empty(length, dtype=np.float64),
        np.empty(half, dtype=np.complex128),
        np.empty(half, dtype=np.complex128),
        np.empty(length, dtype=np.float64),
    )
    if length <= _BUFFER_MAX:
        _LOCAL.buffers = bufs
    return bufs


def _load(buf: NDArray[np.float64], bits: NDArray[np.uint8]) -> None:
    buf[: bits.size] = bits
    buf[bits.size :] = 0.0


def _fft_convolution(
    x: NDArray[np.uint8], s: NDArray[np.uint8], length: int, workers: int, pair: FftPair
) -> NDArray[np.float64]:
    """Cyclic convolution of two 0/1 vectors at length ``length`` by float64 real FFTs.

    numpy's FFT (pocketfft) writes into this thread's cached buffers (``out=``) and
    releases the GIL: with ``workers >= 2`` the seed's forward transform runs in a helper
    thread while this thread transforms the key (pocketfft does not split one 1-D
    transform over threads, so the inverse stays on one core). The result is a cached
    buffer, valid until this thread's next call.
    """
    rfft, irfft = pair
    ra, rb, sa, sb, conv = _buffers(length)
    _load(ra, x)
    _load(rb, s)
    if workers >= 2:
        fut = _pool().submit(rfft, rb, sb)
        rfft(ra, sa)
        fut.result()
    else:
        rfft(ra, sa)
        rfft(rb, sb)
    sa *= sb
    irfft(sa, length, conv)
    return conv


def _split_rows(
    x: NDArray[np.uint8], s: NDArray[np.uint8], m: int, length: int, workers: int, pair: FftPair
) -> tuple[NDArray[np.uint8], float]:
    """``T x`` as two row halves (exact: rows ``[r0, r0 + r)`` of a Toeplitz matrix form the
    ``r × n`` Toeplitz matrix of the seed segment ``s[r0 : r0 + r + n − 1]``).

    Where ``m + n − 1`` just exceeds a power of two (e.g. ``m = n/2`` of a 10^7-bit key in
    the modified hash: 2^24 points), each half fits the next lower power (2^23): the key's
    transform is shared, so 5 transforms of half the length replace 3 (≈ 17 % less work),
    and with ``workers >= 2`` the two halves run on two cores.
    """
    rfft, irfft = pair
    n = x.size
    r = -(-m // 2)
    ra, _, spec_x, _, _ = _buffers(length)
    _load(ra, x)
    rfft(ra, spec_x)

    def rows(r0: int, rr: int) -> tuple[NDArray[np.uint8], float]:
        _, rb, _, sb, conv = _buffers(length)  # the running thread's own buffers
        _load(rb, s[r0 : r0 + rr + n - 1])
        rfft(rb, sb)
        sb *= spec_x
        irfft(sb, length, conv)
        bits, worst = _round_parity(conv, n - 1, rr)
        return bits, float(worst)

    if workers >= 2:
        fut = _pool().submit(rows, r, m - r)
        top = rows(0, r)
        bottom = fut.result()
    else:
        top, bottom = rows(0, r), rows(r, m - r)
    return np.concatenate([top[0], bottom[0]]), max(top[1], bottom[1])


def toeplitz_hash(
    key_bits: NDArray[np.uint8],
    seed_bits: NDArray[np.uint8],
    n_out: int,
    *,
    workers: int = 1,
    backend: str = "auto",
) -> NDArray[np.uint8]:
    """Hash an ``n``-bit key to ``n_out`` bits with the Toeplitz matrix of ``seed_bits``.

    Computes ``y = T x mod 2`` with ``T[i, j] = seed[i − j + n − 1]`` (Krawczyk 1994), by
    carry-less multiplication and transposed Karatsuba over GF(2) (:mod:`._gf2_clmul`,
    exact by construction) or by an FFT convolution whose rounding is proven exact (module
    docstring).

    Parameters
    ----------
    key_bits : array of 0/1, length n
        The reconciled key.
    seed_bits : array of 0/1, length ``n_out + n − 1``
        The Toeplitz seed (from :func:`random_seed_bits`, shared over the authenticated
        channel).
    n_out : int
        Output length ``m >= 1`` (privacy amplification compresses, ``m <= n``; a
        verification tag of a short key may be longer than the key).
    workers : int
        1: everything on the calling thread; >= 2: the two forward FFTs run on two
        cores (two threads; the inverse FFT is one transform on one core).
    backend : str
        ``"clmul"`` (PCLMULQDQ carry-less products, x86-64; :mod:`._gf2_clmul`), an FFT
        library ``"numpy"``, ``"scipy"``, ``"mkl"`` (:mod:`._toeplitz_fft`) or ``"cupy"``
        (cuFFT on a CUDA GPU, :mod:`._toeplitz_gpu`); ``"auto"``: ``"clmul"`` where the CPU
        has PCLMULQDQ, else ``mkl_fft`` where installed, else numpy. Every back end gives
        the same bits; ``ParameterError`` names a back end that is not installed (or, for
        ``"cupy"``, has no GPU; for ``"clmul"``, a CPU without PCLMULQDQ).

    Returns
    -------
    numpy.ndarray of uint8
        The ``m`` output bits.
    """
    x = check_bits("key_bits", key_bits)
    s = check_bits("seed_bits", seed_bits)
    n = x.size
    if isinstance(n_out, bool) or not isinstance(n_out, int | np.integer):
        raise ParameterError("n_out", n_out, "must be an integer")
    m = int(n_out)
    if m < 1:
        raise ParameterError("n_out", m, "must be >= 1")
    if s.size != m + n - 1:
        raise ParameterError("seed_bits", s.size, f"must have n_out + n - 1 = {m + n - 1} bits")
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ParameterError("workers", workers, "must be an integer >= 1")
    return _toeplitz_product(x, s, m, int(workers), backend)


def _toeplitz_product(
    x: NDArray[np.uint8], s: NDArray[np.uint8], m: int, workers: int, backend: str
) -> NDArray[np.uint8]:
    """``T x`` for validated bits (``s.size == m + x.size − 1``): the back-end dispatch."""
    n = x.size
    gpu = backend == "cupy"
    if gpu:
        cupy_module()  # ParameterError naming the back end without CuPy or a GPU
    name = "cupy" if gpu else resolve_backend(backend)
    if name == "clmul":  # exact by construction (carry-less products, no rounding)
        clmul: NDArray[np.uint8] = clmul_toeplitz_bits(x, s, m)
        return clmul
    pair = None if gpu else fft_pair(name)
    if m <= _DIRECT_MAX_BITS:
        return _direct_hash(x, s, m)
    length = _pow2(m + n - 1)
    half = _pow2(-(-m // 2) + n - 1)
    ones_x, ones_s = int(np.count_nonzero(x)), int(np.count_nonzero(s))
    if ones_x == 0 or ones_s == 0:
        return np.zeros(m, dtype=np.uint8)
    if gpu:
        if fft_error_bound(length, ones_x, ones_s) >= 0.25:
            raise ParameterError("key_bits", n, "is too long for a provably exact FFT hash")
        bits, worst = gpu_convolution_bits(x, s, m, length)
        if worst >= 0.25:  # pragma: no cover - broken FFT only
            raise ArithmeticError("FFT convolution is not within 1/4 of an integer")
        return bits
    assert pair is not None
    if length > 2 * _TILE and name in _TILED_BACKENDS:  # 2B-point tiles (_toeplitz_tiles)
        growth = math.log1p(fft_error_bound(2 * _TILE, 1, 1))
        tiled: NDArray[np.uint8] = tiled_toeplitz(x, s, m, pair, growth, _runner(workers), _TILE)
        return tiled
    split = 5 * half < 3 * length  # two row halves: 5 transforms of `half` < 3 of `length`
    # the bound grows with the length and the popcounts: the full seed's popcount bounds
    # each half's seed segment
    bound = fft_error_bound(half if split else length, ones_x, ones_s)
    if bound >= 0.25:
        raise ParameterError("key_bits", n, "is too long for a provably exact FFT hash")
    if split:
        bits, worst = _split_rows(x, s, m, half, workers, pair)
    else:
        conv = _fft_convolution(x, s, length, workers, pair)
        bits, worst = _round_parity(conv, n - 1, m)
    if worst >= 0.25:  # pragma: no cover - broken FFT only
        raise ArithmeticError("FFT convolution is not within 1/4 of an integer")
    out: NDArray[np.uint8] = bits
    return out


#: Tile size B of the tiled product (transform length 2B), used where m + n − 1 > 2B.
_TILE = TILE_BITS
#: Back ends that take the tiled product for long keys. pocketfft's cost per point rises
#: steeply above 2^20 points (measured 5.9 ms at 2^20, 308 ms at 2^24): tiles make a 10^7-bit
#: modified hash 1.8x faster (886 -> 499 ms CPU). MKL's cost per point is nearly flat
#: (4.5 ms at 2^20, 94 ms at 2^24) and the accumulation of the tiles' products (≈ 70 ms at
#: 10^7 bits) then costs more than it saves (377 ms tiled, 315 ms with the row split).
_TILED_BACKENDS = frozenset({"numpy", "scipy"})


def _runner(workers: int) -> Runner:
    """Run independent jobs on the calling thread, or on it and the helper thread."""

    def serial(jobs: list[Callable[[], None]]) -> None:
        for job in jobs:
            job()

    def two(jobs: list[Callable[[], None]]) -> None:
        fut = _pool().submit(serial, jobs[1::2])
        serial(jobs[0::2])
        fut.result()

    return two if workers >= 2 else serial


def _pow2(size: int) -> int:
    """Smallest power of two >= ``size`` (>= 2)."""
    return 1 << max(int(size - 1).bit_length(), 1)


def modified_seed_length(n_out: int, n_in: int) -> int:
    """Seed bits ``n − 1`` of the modified Toeplitz hash (:func:`modified_toeplitz_hash`)."""
    return int(n_in) - 1


def modified_toeplitz_hash(
    key_bits: NDArray[np.uint8],
    seed_bits: NDArray[np.uint8],
    n_out: int,
    *,
    workers: int = 1,
    backend: str = "auto",
) -> NDArray[np.uint8]:
    """Hash with the modified Toeplitz matrix ``(I_m | T)``: ``y = x[:m] ⊕ T x[m:]``.

    ``T`` is the ``m × (n − m)`` Toeplitz matrix of the ``n − 1`` seed bits
    (``T[i, j] = seed[i − j + n − m − 1]``, as in :func:`toeplitz_hash`). Hayashi &
    Tsurumaru, "More efficient privacy amplification with less random seeds via dual
    universal hash function", IEEE Trans. Inf. Theory 62, 2213 (2016), Sec. VI, use this
    family; it is universal2 (2-universal) with collision probability exactly 2^−m: for
    keys x ≠ x' with difference d = (d_A, d_B), if d_B = 0 then y − y' = d_A ≠ 0; if d_B ≠ 0
    then T d_B is uniform over {0,1}^m for a uniform seed (the last nonzero entry of d_B
    multiplies a diagonal bit that no earlier column uses in that row), so
    Pr[T d_B = d_A] = 2^−m. The leftover hash lemma therefore gives the same security
    statement as the plain Toeplitz family (Tomamichel et al. 2011, Lemma 3), with
    m − 1 fewer seed bits and an FFT of length ≥ n − 1 instead of ≥ n + m − 1: at
    m = n/2 and n ≤ 2^20 + 1 the transforms are half as long. Exact over GF(2) (the
    product ``T x[m:]`` is :func:`toeplitz_hash`).

    Parameters
    ----------
    key_bits : array of 0/1, length n
    seed_bits : array of 0/1, length n − 1 (:func:`modified_seed_length`)
    n_out : int
        Output length, ``1 <= m < n``.
    workers, backend
        As in :func:`toeplitz_hash`.
    """
    x = check_bits("key_bits", key_bits)
    s = check_bits("seed_bits", seed_bits)
    n = x.size
    if isinstance(n_out, bool) or not isinstance(n_out, int | np.integer):
        raise ParameterError("n_out", n_out, "must be an integer")
    m = int(n_out)
    if not 1 <= m < n:
        raise ParameterError("n_out", m, f"must be in [1, n) = [1, {n})")
    if s.size != n - 1:
        raise ParameterError("seed_bits", s.size, f"must have n - 1 = {n - 1} bits")
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ParameterError("workers", workers, "must be an integer >= 1")
    # the bits were checked once here; the product does not check its slices again
    out = _toeplitz_product(np.ascontiguousarray(x[m:]), s, m, int(workers), backend)
    out ^= x[:m]
    return out


#: Outputs up to this many bits (verification tags) use the word-packed direct product:
#: O(n·⌈m/64⌉) word operations beat two FFTs of length > n + m.
_DIRECT_MAX_BITS = 256


@njit(**JIT)  # type: ignore[untyped-decorator]
def _toeplitz_words(
    key: NDArray[np.uint8], seed_words: NDArray[np.uint64], n_words: int
) -> NDArray[np.uint64]:  # pragma: no cover - numba
    n = key.size
    out = np.zeros(n_words, dtype=np.uint64)
    for j in range(n):
        if key[j] == 0:
            continue
        o0 = n - 1 - j
        for c in range(n_words):
            o = o0 + 64 * c
            w = o >> 6
            sh = o & 63
            v = seed_words[w] >> np.uint64(sh)
            if sh != 0:
                v |= seed_words[w + 1] << np.uint64(64 - sh)
            out[c] ^= v
    return out


def _direct_hash(x: NDArray[np.uint8], s: NDArray[np.uint8], m: int) -> NDArray[np.uint8]:
    """``T x mod 2`` row by row in 64-bit words (exact; for short outputs)."""
    n = x.size
    n_words = -(-m // 64)
    padded = np.zeros(64 * (-(-(n + 64 * n_words) // 64) + 1), dtype=np.uint8)
    padded[: s.size] = s
    words = np.packbits(padded.reshape(-1, 8)[:, ::-1]).view("<u8")  # bit i of word w = s[64w+i]
    tag_words = _toeplitz_words(x, np.ascontiguousarray(words, dtype=np.uint64), n_words)
    bits = np.unpackbits(tag_words.astype("<u8").view(np.uint8), bitorder="little")
    out: NDArray[np.uint8] = bits[:m].copy()
    return out
