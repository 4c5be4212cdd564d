"""Benchmark: privacy-amplification throughput of qlight's Toeplitz hash against TNO's.

The same reconciled keys (10^6 and 10^7 random bits, output length n/2, a fresh seed per
call) go through:

* qlight :func:`~qlight.qkd.postprocess.toeplitz.toeplitz_hash` — Toeplitz (2-universal)
  hashing by a provably exact float64 FFT (numpy's pocketfft, one core), validation and the
  rounding check included;
* qlight :func:`~qlight.qkd.postprocess.toeplitz.modified_toeplitz_hash` — the modified
  Toeplitz family (I | T) of Hayashi & Tsurumaru (2016), also 2-universal (collision 2^−m),
  exact, with an FFT of length ≥ n − 1 instead of ≥ n + m − 1;
* the same modified Toeplitz hash with ``workers=2``: the key's and the seed's forward FFTs
  on two cores (two threads; numpy's pocketfft releases the GIL), the inverse on one;
* TNO ``tno.quantum.communication.qkd_key_rate`` ``PrivacyAmplification.do_hash`` — SHAKE-256
  of the key truncated to the output length (not a 2-universal family; timed on the same
  bits, its ``Message`` built beforehand and not timed).

Throughput = input key bits / time (Mbit/s), best of the repeats, by CPU time
(``time.process_time``: the machine is shared, wall time includes other jobs) and by wall
time. Goal (issue 8): ≥ 100 Mbit/s at 10^6–10^7-bit blocks. Prints a table and
rewrites its section of ``docs/benchmarks.md`` with the machine.

Run: ``.venv/bin/python benchmarks/bench_privacy_amplification.py [--repeats 3] [--no-write]``.
Peer (benchmark-only): ``pip install tno.quantum.communication.qkd_key_rate``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import _docs
from qlight.qkd.postprocess.toeplitz import (
    modified_seed_length,
    modified_toeplitz_hash,
    random_seed_bits,
    seed_length,
    toeplitz_hash,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_privacy_amplification: begin (written by benchmarks/bench_privacy_amplification.py) -->"  # noqa: E501
END = "<!-- bench_privacy_amplification: end -->"
SIZES = (1_000_000, 10_000_000)


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best CPU time and best wall time of ``repeats`` calls."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - t0)
    return cpu, wall


def _qlight(key: np.ndarray, repeats: int) -> tuple[float, float]:
    m = key.size // 2
    seeds = [random_seed_bits(seed_length(m, key.size)) for _ in range(repeats)]
    it = iter(seeds)
    toeplitz_hash(key[:4096], seeds[0][: 2048 + 4095], 2048)  # warm-up
    return _best(lambda: toeplitz_hash(key, next(it), m), repeats)


def _qlight_modified(key: np.ndarray, repeats: int, workers: int = 1) -> tuple[float, float]:
    m = key.size // 2
    seeds = [random_seed_bits(modified_seed_length(m, key.size)) for _ in range(repeats)]
    it = iter(seeds)
    modified_toeplitz_hash(key[:4096], seeds[0][:4095], 2048, workers=workers)  # warm-up
    return _best(lambda: modified_toeplitz_hash(key, next(it), m, workers=workers), repeats)


def _tno(key: np.ndarray, repeats: int) -> tuple[float, float] | None:
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


def _machine() -> str:
    return _docs.machine("", np)


def run(repeats: int) -> str:
    """Time every contender at every size and return the Markdown table."""
    rng = np.random.default_rng(2026)
    rows = [
        "| key bits | output bits | qlight Toeplitz-FFT (exact GF(2)) "
        "| qlight modified Toeplitz (I\\|T) (exact GF(2)) "
        "| same, 2 cores (`workers=2`) | TNO (SHAKE-256, not 2-universal) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(n: int, t: tuple[float, float] | None) -> str:
        if t is None:
            return "not installed"
        return f"{n / t[0] / 1e6:.1f} Mbit/s CPU ({t[0] * 1e3:.0f} ms), {n / t[1] / 1e6:.1f} wall"

    for n in SIZES:
        key = rng.integers(0, 2, n, dtype=np.uint8)
        cells = [fmt(n, _qlight(key, repeats)), fmt(n, _qlight_modified(key, repeats))]
        cells.append(fmt(n, _qlight_modified(key, repeats, workers=2)))
        cells.append(fmt(n, _tno(key, repeats)))
        rows.append(f"| {n:.0e} | {n // 2:.0e} | " + " | ".join(cells) + " |")
    return (
        "\n".join(rows)
        + f"\n\nBest of {repeats}; throughput = input bits / time (CPU time, then wall time; "
        f"the machine was shared; with 2 cores the CPU time is that of both threads, the "
        f"wall time is the figure that can improve). Machine: {_machine()}.\n"
    )


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    body = (
        f"{BEGIN}\n## Privacy amplification (`benchmarks/bench_privacy_amplification.py`)\n\n"
        f"{text}\n{END}"
    )
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per contender")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    text = run(args.repeats)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
