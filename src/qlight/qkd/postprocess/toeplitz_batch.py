"""Hash many privacy-amplification blocks at once, consecutive blocks on several threads.

One 1-D FFT is not split over cores by pocketfft or MKL, so a single block's hash runs on
one core (``workers=2`` of :func:`~qlight.qkd.postprocess.toeplitz.modified_toeplitz_hash`
only overlaps its two forward transforms). A stream of blocks — the normal case of a QKD
link, which produces one reconciled block after another — uses every core by hashing whole
blocks in parallel: each worker thread runs the one-core hash of its block with its own
cached buffers, and every FFT back end releases the GIL during a transform (see
:mod:`qlight.qkd.postprocess._toeplitz_fft`), as do the numba kernels of the carry-less
back end (``nogil=True``, :mod:`qlight.qkd.postprocess._gf2_clmul`). Each block's output is exactly
``modified_toeplitz_hash(key, seed, n_out)``: the same 2-universal family (Hayashi &
Tsurumaru, IEEE Trans. Inf. Theory 62, 2213 (2016)) and the same proven rounding bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess._toeplitz_fft import resolve_backend
from qlight.qkd.postprocess._toeplitz_gpu import cupy_module
from qlight.qkd.postprocess.toeplitz import modified_toeplitz_hash

__all__ = ["modified_toeplitz_hash_many"]

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A persistent pool per worker count (its threads keep their FFT buffers)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="qlight-pa")
    return _POOLS[workers]


def modified_toeplitz_hash_many(
    keys: Sequence[NDArray[np.uint8]],
    seeds: Sequence[NDArray[np.uint8]],
    n_out: int | Sequence[int],
    *,
    workers: int = 2,
    backend: str = "auto",
) -> list[NDArray[np.uint8]]:
    """Modified Toeplitz hashes ``x[:m] ⊕ T x[m:]`` of many blocks, ``workers`` at a time.

    Parameters
    ----------
    keys : sequence of 0/1 arrays
        The reconciled blocks (lengths may differ).
    seeds : sequence of 0/1 arrays
        One seed of ``n − 1`` bits per block
        (:func:`~qlight.qkd.postprocess.toeplitz.modified_seed_length`).
    n_out : int or sequence of int
        Output length of every block, or one per block.
    workers : int
        Threads hashing blocks in parallel (1: one after another on the calling thread).
        With ``backend="cupy"`` the blocks go to the GPU one after another.
    backend : str
        As in :func:`~qlight.qkd.postprocess.toeplitz.toeplitz_hash`.

    Returns
    -------
    list of numpy.ndarray of uint8
        ``[modified_toeplitz_hash(keys[i], seeds[i], n_out[i]) for i ...]``, in order.

    Raises
    ------
    ParameterError
        Mismatched numbers of keys, seeds and lengths, bad ``workers`` or ``backend``, or
        any block's own bad input (as :func:`modified_toeplitz_hash` raises it).
    """
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ParameterError("workers", workers, "must be an integer >= 1")
    if len(seeds) != len(keys):
        raise ParameterError("seeds", len(seeds), f"must hold one seed per key ({len(keys)})")
    if isinstance(n_out, int | np.integer) and not isinstance(n_out, bool):
        lengths = [int(n_out)] * len(keys)
    else:
        lengths = list(n_out)  # type: ignore[arg-type]
        if len(lengths) != len(keys):
            raise ParameterError("n_out", len(lengths), f"must be one int or {len(keys)} ints")
    if backend == "cupy":
        cupy_module()
    else:
        resolve_backend(backend)
    jobs = list(zip(keys, seeds, lengths, strict=True))
    if workers == 1 or backend == "cupy" or len(jobs) < 2:
        return [modified_toeplitz_hash(k, s, m, backend=backend) for k, s, m in jobs]
    futures = [
        _pool(int(workers)).submit(modified_toeplitz_hash, k, s, m, backend=backend)
        for k, s, m in jobs
    ]
    return [f.result() for f in futures]
