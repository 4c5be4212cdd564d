"""Cascade reconciliation: qlight (original and optimised) against TNO's Cascade.

Same inputs for every contender: Alice's key is uniform random, Bob's is Alice's through a
binary symmetric channel with crossover probability Q. Reported per contender: efficiency
f = leaked / (n h(Q)) (Martinez-Mateo et al., QIC 15, 453 (2015), Eq. (1)), bit errors left,
channel uses (messages) or communication rounds, wall time and throughput of sifted key.

* qlight runs as a real two-party protocol: Alice and Bob in two threads of one process,
  exchanging authenticated messages through the in-process channel (each message carries a
  Wegman–Carter tag); wall time includes everything (permutations, messages, authentication).
* TNO (``tno.quantum.communication.qkd_key_rate`` 2.x, pure Python) is run as its docstring
  shows: ``ParityStrategy(error_rate=Q, sampling_fraction=0.34, number_of_passes=8)``, random
  permutations, ``CascadeCorrector(alice, bob).correct_errors()``; only ``correct_errors`` is
  timed; leakage is its ``number_of_exposed_bits``. It has no channel: both parties are
  objects calling each other.

The frame error rate of the optimised Cascade (before verification) is measured separately
over many shorter frames, with a Clopper–Pearson 95 % upper bound.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray

import _docs
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.estimation import clopper_pearson
from qlight.qkd.postprocess.reconcile import binary_entropy, reconcile

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- cascade: begin -->"
END = "<!-- cascade: end -->"
QBERS = (0.01, 0.02, 0.05)


@dataclass
class Row:
    name: str
    q: float
    n: int
    leaked: int
    errors_left: int
    uses: float
    seconds: float

    @property
    def f(self) -> float:
        return self.leaked / (self.n * binary_entropy(self.q))

    @property
    def mbit_s(self) -> float:
        return self.n / self.seconds / 1e6


def _bsc(n: int, q: float, seed: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n, dtype=np.uint8)
    return a, a ^ (rng.random(n) < q).astype(np.uint8)


def run_qlight(variant: str, a: NDArray[np.uint8], b: NDArray[np.uint8], q: float) -> Row:
    rec = CascadeReconciler(variant)  # type: ignore[arg-type]
    chans = channel_pair()
    res = reconcile(rec, a, b, q, chans, np.random.default_rng(1))
    name = f"qlight {rec.name}"
    left = int(np.count_nonzero(res.bob_key != a))
    return Row(name, q, a.size, res.leaked_bits, left, res.channel_uses, res.wall_s)


def run_tno(a: NDArray[np.uint8], b: NDArray[np.uint8], q: float) -> Row | None:
    try:
        from tno.quantum.communication.qkd_key_rate.classical import (
            Message,
            ParityStrategy,
            Permutations,
        )
        from tno.quantum.communication.qkd_key_rate.classical.cascade import (
            CascadeCorrector,
            CascadeReceiver,
            CascadeSender,
        )
    except ImportError:
        return None
    n = a.size
    strategy = ParityStrategy(error_rate=q, sampling_fraction=0.34, number_of_passes=8)
    perms = Permutations.random_permutation(number_of_passes=8, message_size=n, random_state=42)
    alice = CascadeSender(message=Message(a.tolist()), permutations=perms)
    bob = CascadeReceiver(message=Message(b.tolist()), permutations=perms, parity_strategy=strategy)
    corrector = CascadeCorrector(alice=alice, bob=bob)
    t0 = time.perf_counter()
    out = corrector.correct_errors()
    dt = time.perf_counter() - t0
    left = int(np.count_nonzero(np.array(out.output_bob.message, np.uint8) != a))
    rounds = float(out.number_of_communication_rounds)
    return Row("TNO Cascade", q, n, int(out.number_of_exposed_bits), left, rounds, dt)


def frame_errors(q: float, n: int, frames: int) -> tuple[int, int]:
    rec = CascadeReconciler("optimized")
    rng = np.random.default_rng(7)
    bad = 0
    for _ in range(frames):
        a = rng.integers(0, 2, n, dtype=np.uint8)
        b = a ^ (rng.random(n) < q).astype(np.uint8)
        res = reconcile(rec, a, b, q, channel_pair(), rng)
        bad += bool((res.bob_key != a).any())
    return bad, frames


def _machine() -> str:
    return _docs.machine("shared with other jobs; the two parties run as two threads", np, numba)


def table(rows: list[Row], fer: list[tuple[float, int, int, int]]) -> str:
    lines = [
        "Binary symmetric channel, same inputs for all contenders (see the script docstring).",
        "",
        "| contender | Q | n | f = leak/(n h(Q)) | errors left | messages / rounds "
        "| time (s) | Mbit/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [
            r.name,
            f"{r.q:.2f}",
            f"{r.n:,}",
            f"{r.f:.3f}",
            str(r.errors_left),
            f"{r.uses:.0f}",
            f"{r.seconds:.3f}",
            f"{r.mbit_s:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Frame error rate of qlight cascade-opt before verification (frames with any bit "
        "error left; verification with ε_cor then discards them):",
        "",
        "| Q | frame bits | frames | failed | FER 95 % upper bound |",
        "|---:|---:|---:|---:|---:|",
    ]
    for q, n, bad, total in fer:
        hi = clopper_pearson(bad, total, 0.05)[1]
        lines.append(f"| {q:.2f} | {n:,} | {total} | {bad} | {hi:.2e} |")
    lines += ["", f"Machine: {_machine()}."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    body = f"{BEGIN}\n## Cascade reconciliation (`benchmarks/bench_cascade.py`)\n\n{text}\n{END}"
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=1_000_000, help="bits for the qlight runs")
    parser.add_argument("--small", type=int, default=100_000, help="bits shared with TNO")
    parser.add_argument("--frames", type=int, default=300, help="frames for the FER")
    parser.add_argument("--frame-bits", type=int, default=1 << 14, help="bits per FER frame")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    a0, b0 = _bsc(4096, 0.02, 0)
    run_qlight("optimized", a0, b0, 0.02)  # compile the numba kernels outside the timings
    run_qlight("original", a0, b0, 0.02)
    rows: list[Row] = []
    fer: list[tuple[float, int, int, int]] = []
    for i, q in enumerate(QBERS):
        a, b = _bsc(args.small, q, 100 + i)
        rows += [run_qlight("original", a, b, q), run_qlight("optimized", a, b, q)]
        tno = run_tno(a, b, q)
        if tno is not None:
            rows.append(tno)
        a, b = _bsc(args.big, q, 200 + i)
        rows += [run_qlight("original", a, b, q), run_qlight("optimized", a, b, q)]
        bad, total = frame_errors(q, args.frame_bits, args.frames)
        fer.append((q, args.frame_bits, bad, total))
        print(f"Q = {q}: done", flush=True)
    text = table(rows, fer)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
