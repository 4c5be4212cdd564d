"""Benchmark: privacy-amplification throughput of qlight's Toeplitz hash against TNO's.

The same reconciled keys (10^6 and 10^7 random bits, output length n/2, a fresh seed per
call) go through:

* qlight :func:`~qlight.qkd.postprocess.toeplitz.toeplitz_hash` — Toeplitz (2-universal)
  hashing by carry-less multiplication (``backend="clmul"``: bits packed in 64-bit words,
  (V)PCLMULQDQ products, transposed Karatsuba middle product; exact by construction; the
  default where the CPU has PCLMULQDQ) and by a provably exact float64 FFT (the fastest
  installed FFT), validation and packing included;
* qlight :func:`~qlight.qkd.postprocess.toeplitz.modified_toeplitz_hash` — the modified
  Toeplitz family (I | T) of Hayashi & Tsurumaru (2016), also 2-universal (collision 2^−m),
  exact; with ``clmul`` and once per installed FFT back end (numpy's pocketfft, scipy.fft,
  Intel MKL through ``mkl_fft``), one core; pocketfft takes 2^20-point tiles for long keys,
  shown beside the same hash without tiles;
* the same over a stream of blocks on two threads
  (:func:`~qlight.qkd.postprocess.toeplitz_batch.modified_toeplitz_hash_many`,
  ``workers=2``): the figure that counts there is the wall-clock throughput over two cores;
* with ``--gpu``: the same hash on cuFFT through CuPy (``backend="cupy"``), wall time
  including the host↔GPU copies, one block and a stream of blocks;
* TNO ``tno.quantum.communication.qkd_key_rate`` ``PrivacyAmplification.do_hash`` — SHAKE-256
  of the key truncated to the output length (not a 2-universal family; timed on the same
  bits, its ``Message`` built beforehand and not timed).

Throughput = input key bits / time (Mbit/s), best of the repeats, by CPU time
(``time.process_time`` of the whole process: the machine is shared, wall time includes
other jobs) and by wall time; contenders run side by side in the same process. Goal
(issue 8): ≥ 100 Mbit/s at 10^6–10^7-bit blocks. Prints a table and rewrites its section
of ``docs/benchmarks.md`` (with ``--gpu``: its GPU section) with the machine.

Run: ``.venv/bin/python benchmarks/bench_privacy_amplification.py [--repeats 3] [--gpu]
[--no-write]``. Peers (benchmark-only): ``pip install tno.quantum.communication.qkd_key_rate``;
optional FFT: ``pip install mkl-fft``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import _docs
from qlight.qkd.postprocess import toeplitz
from qlight.qkd.postprocess._gf2_clmul import clmul_available, vector_words
from qlight.qkd.postprocess._toeplitz_fft import CPU_BACKENDS
from qlight.qkd.postprocess.toeplitz import (
    modified_seed_length,
    modified_toeplitz_hash,
    random_seed_bits,
    seed_length,
    toeplitz_hash,
)
from qlight.qkd.postprocess.toeplitz_batch import modified_toeplitz_hash_many

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_privacy_amplification: begin (written by benchmarks/bench_privacy_amplification.py) -->"  # noqa: E501
END = "<!-- bench_privacy_amplification: end -->"
GPU_BEGIN = "<!-- bench_privacy_amplification_gpu: begin (written by benchmarks/bench_privacy_amplification.py --gpu) -->"  # noqa: E501
GPU_END = "<!-- bench_privacy_amplification_gpu: end -->"
SIZES = (1_000_000, 10_000_000)
STREAM = 4  # blocks per call of the batch API

Timing = tuple[float, float]


def _best(fn: Callable[[], object], repeats: int, items: int = 1) -> Timing:
    """Best CPU time and best wall time per item of ``repeats`` calls."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - t0)
    return cpu / items, wall / items


def _plain(key: np.ndarray, repeats: int, backend: str) -> Timing:
    m = key.size // 2
    seeds = [random_seed_bits(seed_length(m, key.size)) for _ in range(repeats)]
    it = iter(seeds)
    toeplitz_hash(key, seeds[0], m, backend=backend)  # warm-up (plans, buffers, compilation)
    return _best(lambda: toeplitz_hash(key, next(it), m, backend=backend), repeats)


def _modified(key: np.ndarray, repeats: int, backend: str) -> Timing:
    m = key.size // 2
    seeds = [random_seed_bits(modified_seed_length(m, key.size)) for _ in range(repeats + 1)]
    it = iter(seeds)
    modified_toeplitz_hash(key, next(it), m, backend=backend)  # warm-up (plans, buffers)
    return _best(lambda: modified_toeplitz_hash(key, next(it), m, backend=backend), repeats)


def _untiled(key: np.ndarray, repeats: int) -> Timing:
    """numpy's modified hash with the tiles switched off (the previous round's product)."""
    saved = toeplitz._TILED_BACKENDS
    toeplitz._TILED_BACKENDS = frozenset()
    try:
        return _modified(key, repeats, "numpy")
    finally:
        toeplitz._TILED_BACKENDS = saved


def _stream(key: np.ndarray, repeats: int, backend: str, workers: int) -> Timing:
    m = key.size // 2
    keys = [np.roll(key, i) for i in range(STREAM)]
    seeds = [random_seed_bits(modified_seed_length(m, key.size)) for _ in range(STREAM)]
    modified_toeplitz_hash_many(keys, seeds, m, workers=workers, backend=backend)  # warm-up
    return _best(
        lambda: modified_toeplitz_hash_many(keys, seeds, m, workers=workers, backend=backend),
        repeats,
        STREAM,
    )


def _tno(key: np.ndarray, repeats: int) -> Timing | None:
    try:
        from tno.quantum.communication.qkd_key_rate.classical import Message
        from tno.quantum.communication.qkd_key_rate.classical.privacy_amplification import (
            PrivacyAmplification,
        )
    except ImportError:
        return None
    msg = Message(key.tolist())
    pa = PrivacyAmplification(key.size, 0.0)
    return _best(lambda: pa.do_hash(msg, key.size / 2), repeats)


def _installed() -> list[str]:
    return [b for b in CPU_BACKENDS if b != "mkl" or importlib.util.find_spec("mkl_fft")]


def _clmul() -> list[str]:
    """``["clmul"]`` where the CPU has PCLMULQDQ (the carry-less back end), else ``[]``."""
    return ["clmul"] if clmul_available() else []


def _cell(n: int, t: Timing | None, wall_only: bool = False) -> str:
    if t is None:
        return "not installed"
    rate, ms = n / t[1] / 1e6, t[1] * 1e3
    wall = f"{rate:.1f} wall ({ms:.1f} ms)"
    if wall_only:
        return f"**{rate:.1f} Mbit/s wall ({ms:.1f} ms)**"
    return f"{n / t[0] / 1e6:.1f} Mbit/s CPU ({t[0] * 1e3:.0f} ms), {wall}"


def run(repeats: int) -> str:
    """Time every CPU contender at every size and return the Markdown table."""
    rng = np.random.default_rng(2026)
    keys = {n: rng.integers(0, 2, n, dtype=np.uint8) for n in SIZES}
    rows = [
        "| contender | 10⁶ bits → 5·10⁵ | 10⁷ bits → 5·10⁶ |",
        "|---|---:|---:|",
    ]

    def row(name: str, fn: Callable[[np.ndarray], Timing | None], wall: bool = False) -> None:
        rows.append(f"| {name} | " + " | ".join(_cell(n, fn(keys[n]), wall) for n in SIZES) + " |")

    lanes = vector_words() if clmul_available() else 0
    if lanes:
        row(
            f"qlight Toeplitz (m × n) by carry-less multiplication, `clmul` "
            f"({lanes}-word (V)PCLMULQDQ vectors, transposed Karatsuba), 1 core",
            lambda k: _plain(k, repeats, "clmul"),
        )
    fft = _installed()[0]
    row(
        f"qlight Toeplitz (m × n) by FFT (exact GF(2)), fastest FFT `{fft}`, 1 core",
        lambda k: _plain(k, repeats, fft),
    )
    for backend in _clmul() + _installed():
        row(
            f"qlight modified Toeplitz (I\\|T) (exact GF(2)), `{backend}`, 1 core",
            lambda k, b=backend: _modified(k, repeats, b),
        )
    row(
        "same, `numpy` without tiles (one 2^20 / two 2^23-point products), 1 core",
        lambda k: _untiled(k, repeats),
    )
    row(
        f"same, `auto` (`{'clmul' if lanes else fft}`), stream of {STREAM} blocks, 1 thread",
        lambda k: _stream(k, repeats, "auto", 1),
    )
    row(
        f"same, `auto`, stream of {STREAM} blocks, 2 threads (`workers=2`): wall is the figure",
        lambda k: _stream(k, repeats, "auto", 2),
    )
    row("TNO (SHAKE-256, not 2-universal)", lambda k: _tno(k, repeats))
    return (
        "\n".join(rows)
        + f"\n\nBest of {repeats}, contenders side by side in one process; throughput = input "
        "bits / time, by CPU time of the whole process (one-core figures) and by wall time "
        "(the figure for two threads, whose CPU time is that of both). The machine was "
        f"shared with other jobs. Machine: {_docs.machine('', np)}.\n"
    )


def run_gpu(repeats: int) -> str:
    """Time the CuPy back end (wall, copies included) beside the CPU back ends of this host."""
    import cupy as cp

    rng = np.random.default_rng(2026)
    keys = {n: rng.integers(0, 2, n, dtype=np.uint8) for n in SIZES}
    rows = ["| contender | 10⁶ bits → 5·10⁵ | 10⁷ bits → 5·10⁶ |", "|---|---:|---:|"]

    def row(name: str, fn: Callable[[np.ndarray], Timing | None], wall: bool = False) -> None:
        rows.append(f"| {name} | " + " | ".join(_cell(n, fn(keys[n]), wall) for n in SIZES) + " |")

    row(
        "modified Toeplitz, `cupy` (cuFFT float64), one block",
        lambda k: _modified(k, repeats, "cupy"),
        True,
    )
    row(f"same, `cupy`, stream of {STREAM} blocks", lambda k: _stream(k, repeats, "cupy", 1), True)
    for backend in _installed():
        row(f"same, `{backend}`, 1 core", lambda k, b=backend: _modified(k, repeats, b))
    for w in (1, 2):
        row(
            f"same, `auto`, stream of {STREAM} blocks, {w} thread(s)",
            lambda k, w=w: _stream(k, repeats, "auto", w),
        )
    gpu = cp.cuda.runtime.getDeviceProperties(0)["name"]
    gpu_name = gpu.decode() if isinstance(gpu, bytes) else str(gpu)
    return (
        "\n".join(rows)
        + f"\n\nBest of {repeats}; GPU rows: wall time including the host→GPU copy of key and "
        "seed and the GPU→host copy of the output (CPU time is meaningless there). "
        f"GPU: {gpu_name}, CuPy {cp.__version__}. Host: {_docs.machine('', np)}.\n"
    )


def write_section(text: str, gpu: bool = False) -> None:
    """Replace (or append) this benchmark's (GPU) section of docs/benchmarks.md."""
    begin, end = (GPU_BEGIN, GPU_END) if gpu else (BEGIN, END)
    title = "Privacy amplification on a GPU" if gpu else "Privacy amplification"
    flag = " --gpu" if gpu else ""
    body = (
        f"{begin}\n## {title} (`benchmarks/bench_privacy_amplification.py{flag}`)\n\n{text}\n{end}"
    )
    _docs.replace_section(begin, end, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per contender")
    parser.add_argument("--gpu", action="store_true", help="time the CuPy back end instead")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    text = run_gpu(args.repeats) if args.gpu else run(args.repeats)
    print(text)
    if not args.no_write:
        write_section(text, gpu=args.gpu)


if __name__ == "__main__":
    main()
