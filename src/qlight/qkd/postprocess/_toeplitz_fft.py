"""FFT back ends of the Toeplitz hash: numpy (pocketfft), scipy.fft, Intel MKL (``mkl_fft``).

All three compute the same float64 real transforms; the hash rounds their output and checks
every entry against Percival's bound (:func:`qlight.qkd.postprocess.toeplitz.fft_error_bound`)
and the runtime 1/4 test, so the back end changes the speed, never the bits.

Measured here (one core, CPU time, best of 7, one 2^k-point real forward transform; the
machine was shared): numpy 5.9 ms at 2^20, 57 ms at 2^22, 308 ms at 2^24; ``scipy.fft`` the
same (it is pocketfft too; ``workers=`` does not split a 1-D transform); ``mkl_fft`` 4.5 /
25 / 94 ms (one thread, no plan); pyFFTW (FFTW 3) 4.2 / 17 / 96 ms with ``FFTW_MEASURE``
plans, which cost 17 s / 47 s / 218 s to make, and 5.9 / 53 / 169 ms with ``FFTW_ESTIMATE``.
Among the FFTs ``"auto"`` therefore picks ``mkl_fft`` where it is installed and numpy
otherwise; but where the CPU has PCLMULQDQ, ``"auto"`` is the exact carry-less back end
``"clmul"`` (:mod:`._gf2_clmul`, 4–9x faster than any FFT here, no rounding). Every
back end releases the GIL during a transform (measured: a spinning Python thread kept its
rate), so two threads hash on two cores.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess._gf2_clmul import clmul_available

__all__ = ["CPU_BACKENDS", "FftPair", "fft_pair", "resolve_backend"]

#: CPU back ends in order of preference for ``"auto"`` (fastest measured first).
CPU_BACKENDS = ("mkl", "numpy", "scipy")

_Rfft = Callable[[NDArray[np.float64], NDArray[np.complex128]], None]
_Irfft = Callable[[NDArray[np.complex128], int, NDArray[np.float64]], None]
FftPair = tuple[_Rfft, _Irfft]

_CACHE: dict[str, FftPair] = {}


def _numpy_pair() -> FftPair:
    def rfft(a: NDArray[np.float64], out: NDArray[np.complex128]) -> None:
        np.fft.rfft(a, out=out)

    def irfft(spec: NDArray[np.complex128], n: int, out: NDArray[np.float64]) -> None:
        np.fft.irfft(spec, n=n, out=out)

    return rfft, irfft


def _scipy_pair() -> FftPair:
    sfft: Any = importlib.import_module("scipy.fft")

    def rfft(a: NDArray[np.float64], out: NDArray[np.complex128]) -> None:
        out[:] = sfft.rfft(a)

    def irfft(spec: NDArray[np.complex128], n: int, out: NDArray[np.float64]) -> None:
        out[:] = sfft.irfft(spec, n=n, overwrite_x=True)

    return rfft, irfft


def _mkl_pair() -> FftPair:
    mkl: Any = importlib.import_module("mkl_fft")

    def rfft(a: NDArray[np.float64], out: NDArray[np.complex128]) -> None:
        mkl.rfft(a, out=out)

    def irfft(spec: NDArray[np.complex128], n: int, out: NDArray[np.float64]) -> None:
        mkl.irfft(spec, n=n, out=out)

    return rfft, irfft


_MAKERS: dict[str, Callable[[], FftPair]] = {
    "numpy": _numpy_pair,
    "scipy": _scipy_pair,
    "mkl": _mkl_pair,
}


def _available(name: str) -> bool:
    if name in _CACHE:
        return True
    try:
        _CACHE[name] = _MAKERS[name]()
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    """The CPU back end that ``backend`` names (``"auto"``: the fastest installed one).

    ``"clmul"`` (carry-less multiplication, :mod:`._gf2_clmul`) where the CPU has
    PCLMULQDQ; otherwise the first installed FFT of :data:`CPU_BACKENDS`.

    Raises
    ------
    ParameterError
        For an unknown name or a back end that is not installed.
    """
    if backend == "clmul" or (backend == "auto" and clmul_available()):
        if not clmul_available():
            raise ParameterError("backend", backend, "needs an x86-64 CPU with PCLMULQDQ")
        return "clmul"
    if backend == "auto":
        for name in CPU_BACKENDS:
            if _available(name):
                return name
    if not isinstance(backend, str) or backend not in _MAKERS:
        raise ParameterError(
            "backend", backend, "must be 'auto', 'clmul', 'numpy', 'scipy', 'mkl' or 'cupy'"
        )
    if not _available(backend):
        raise ParameterError("backend", backend, f"needs the '{backend}' FFT package installed")
    return backend


def fft_pair(backend: str) -> FftPair:
    """``(rfft(a, out), irfft(spectrum, n, out))`` of a resolved CPU back end."""
    name = resolve_backend(backend)
    return _CACHE[name]
