"""GPU path of the Toeplitz hash: the same float64 FFT convolution with cuFFT through CuPy.

CuPy is imported lazily (only when ``backend="cupy"`` is asked for) and is not a dependency.
The algorithm is the CPU one (:mod:`qlight.qkd.postprocess.toeplitz`): a cyclic convolution
of power-of-two length ``L >= m + n - 1`` by double-precision real transforms, rounded to
the nearest integer and reduced mod 2. The caller has already checked Percival's bound
(< 1/4) for ``L``; the largest distance of any entry to its integer is computed on the GPU
and returned, so the runtime 1/4 check holds here too. The bound's assumptions (at most
``k + 2`` rounding stages per element, twiddles accurate to ``4ε``) are the same ones made
for pocketfft and MKL; cuFFT's double-precision twiddles are computed in double precision
(NVIDIA, cuFFT documentation, "Accuracy and Performance"); the runtime check catches a
library that breaks them.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError

__all__ = ["cupy_module", "gpu_convolution_bits"]

_CUPY: list[Any] = []


def cupy_module() -> Any:
    """CuPy, imported on first use; ``ParameterError`` naming the back end when CuPy or a
    CUDA GPU is missing."""
    if _CUPY:
        return _CUPY[0]
    try:
        cp: Any = importlib.import_module("cupy")
        n_gpu = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:  # ImportError, or CUDA's own error without a driver
        raise ParameterError(
            "backend", "cupy", f"needs CuPy and a CUDA GPU ({type(exc).__name__}: {exc})"
        ) from exc
    if n_gpu < 1:
        raise ParameterError("backend", "cupy", "needs a CUDA GPU (none found)")
    _CUPY.append(cp)
    return cp


def gpu_convolution_bits(
    x: NDArray[np.uint8], s: NDArray[np.uint8], m: int, length: int
) -> tuple[NDArray[np.uint8], float]:
    """Bits ``(s ∗ x)[n − 1 + i] mod 2`` for ``i < m`` (the Toeplitz product ``T x``) by cuFFT
    at transform length ``length``, and the largest distance of those entries to an integer.
    """
    cp = cupy_module()
    n = x.size
    xa = cp.zeros(length, dtype=cp.float64)
    sa = cp.zeros(length, dtype=cp.float64)
    xa[:n] = cp.asarray(x)
    sa[: s.size] = cp.asarray(s)
    spec = cp.fft.rfft(xa)
    spec *= cp.fft.rfft(sa)
    conv = cp.fft.irfft(spec, n=length)[n - 1 : n - 1 + m]
    nearest = cp.rint(conv)
    worst = float(cp.abs(conv - nearest).max())
    bits = (nearest.astype(cp.int64) & 1).astype(cp.uint8)
    out: NDArray[np.uint8] = cp.asnumpy(bits)
    return out, worst
