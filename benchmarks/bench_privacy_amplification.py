"""Benchmark: privacy-amplification throughput of qlight's Toeplitz hash against TNO's.

The same reconciled keys (10^6 and 10^7 random bits, output length n/2, a fresh seed per
call) go through:

* qlight :func:`~qlight.qkd.postprocess.toeplitz.toeplitz_hash` — Toeplitz (2-universal)
  hashing by a provably exact float64 FFT (numpy's pocketfft, one core), validation and the
  rounding check included;
* TNO ``tno.quantum.communication.qkd_key_rate`` ``PrivacyAmplification.do_hash`` — SHAKE-256
  of the key truncated to the output length (not a 2-universal family; timed on the same
  bits, its ``Message`` built beforehand and not timed).

Throughput = input key bits / wall time (Mbit/s), best of the repeats. Prints a table and
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
from qlight.qkd.postprocess.toeplitz import random_seed_bits, seed_length, toeplitz_hash

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_privacy_amplification: begin (written by benchmarks/bench_privacy_amplification.py) -->"  # noqa: E501
END = "<!-- bench_privacy_amplification: end -->"
SIZES = (1_000_000, 10_000_000)


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _qlight(key: np.ndarray, repeats: int) -> float:
    m = key.size // 2
    seeds = [random_seed_bits(seed_length(m, key.size)) for _ in range(repeats)]
    it = iter(seeds)
    toeplitz_hash(key[:4096], seeds[0][: 2048 + 4095], 2048)  # warm-up
    return _best(lambda: toeplitz_hash(key, next(it), m), repeats)


def _tno(key: np.ndarray, repeats: int) -> float | None:
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
        "| key bits | output bits | qlight Toeplitz-FFT (exact GF(2)) | "
        "TNO (SHAKE-256, not 2-universal) |",
        "|---:|---:|---:|---:|",
    ]
    for n in SIZES:
        key = rng.integers(0, 2, n, dtype=np.uint8)
        t_q = _qlight(key, repeats)
        t_tno = _tno(key, repeats)
        tno = "not installed" if t_tno is None else f"{n / t_tno / 1e6:.1f} Mbit/s"
        rows.append(
            f"| {n:.0e} | {n // 2:.0e} | {n / t_q / 1e6:.1f} Mbit/s ({t_q * 1e3:.0f} ms) | {tno} |"
        )
    return (
        "\n".join(rows)
        + f"\n\nBest of {repeats}; throughput = input bits / wall time. Machine: {_machine()}.\n"
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
