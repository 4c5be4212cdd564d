"""Residual frame error after verification: Cascade + Toeplitz verification over many frames.

Goal (issue 8): residual frame error ≤ 10⁻⁴ after verification. Each frame: Alice's key is
uniform, Bob's is Alice's through a binary symmetric channel (crossover Q); the two parties
run Cascade as a real two-party protocol (inline runner, transcript MAC) and then error
verification with a t-bit Toeplitz tag, ε_cor = 10⁻¹⁰ → t = 34
(:mod:`qlight.qkd.postprocess.verification`). Counted per frame:

* *pre-verification failure*: Bob's key differs from Alice's after Cascade;
* *rejected*: the verification tags differ (the frame is discarded, no key);
* *residual failure*: verification accepted AND the keys differ — the event the goal bounds.

Two bounds on the residual FER are reported: the Clopper–Pearson 95 % upper bound from the
observed residual failures (0 in N frames gives 1 − 0.05^{1/N}: N ≥ 29 956 for ≤ 10⁻⁴), and
the derivation P(residual) = P(pre-verification failure) · P(tags collide | keys differ)
≤ FER_pre,95% · 2^−t (Krawczyk, CRYPTO '94: the Toeplitz family is universal, so two
different keys collide with probability 2^−t whatever the key pair).

Run: ``.venv/bin/python benchmarks/bench_cascade_fer.py [--frames 30000] [--no-write]``.
"""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

import _docs
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.estimation import clopper_pearson
from qlight.qkd.postprocess.reconcile import reconcile
from qlight.qkd.postprocess.verification import tag_bits_for, verify

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_cascade_fer: begin (written by benchmarks/bench_cascade_fer.py) -->"
END = "<!-- bench_cascade_fer: end -->"
EPS_COR = 1e-10
#: (variant, frame bits, QBER): the efficient variant at a small frame, and the original one
#: at a smaller frame where it often fails before verification (so verification has work).
CASES = (("optimized", 4096, 0.02), ("original", 1024, 0.05))


@dataclass
class FerRow:
    variant: str
    n: int
    q: float
    frames: int
    pre_fail: int
    rejected: int
    residual: int
    cpu_s: float


def run_case(variant: str, n: int, q: float, frames: int, seed: int) -> FerRow:
    """Run ``frames`` frames of Cascade + verification; count the three kinds of failure."""
    rec = CascadeReconciler(variant)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    # one long-lived channel, as in a link: ≈ 130 authentication bytes per frame
    chans = channel_pair(psk=secrets.token_bytes(400 * frames + 4096), timeout_s=30.0)
    pre = rej = resid = 0
    c0 = time.process_time()
    for _ in range(frames):
        a = rng.integers(0, 2, n, dtype=np.uint8)
        b = a ^ (rng.random(n) < q).astype(np.uint8)
        res = reconcile(rec, a, b, q, chans, rng, inline=True)
        differ = bool((res.bob_key != res.alice_key).any())
        ok = verify(res.alice_key, res.bob_key, chans, eps_cor=EPS_COR, rng=rng, inline=True).ok
        pre += differ
        rej += not ok
        resid += ok and differ
    return FerRow(variant, n, q, frames, pre, rej, resid, time.process_time() - c0)


def table(rows: list[FerRow]) -> str:
    t = tag_bits_for(EPS_COR)
    lines = [
        f"Cascade then Toeplitz verification (ε_cor = 1e-10, t = {t} tag bits) on "
        "independent BSC frames; see the script docstring for the two bounds.",
        "",
        "| Cascade | frame bits | Q | frames | failed before verification | rejected "
        "| residual (accepted, keys differ) | residual FER 95 % (observed) "
        "| residual FER bound (FER_pre,95% · 2^−t) | CPU ms/frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hi_obs = clopper_pearson(r.residual, r.frames, 0.05)[1]
        hi_pre = clopper_pearson(r.pre_fail, r.frames, 0.05)[1]
        cells = [
            "cascade-opt" if r.variant == "optimized" else "cascade (original)",
            f"{r.n:,}",
            f"{r.q:.2f}",
            f"{r.frames:,}",
            str(r.pre_fail),
            str(r.rejected),
            str(r.residual),
            f"{hi_obs:.2e}",
            f"{hi_pre * 2.0**-t:.1e}",
            f"{1e3 * r.cpu_s / r.frames:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = "inline two-party runs, one core; shared with other jobs"
    lines += ["", f"Machine: {_docs.machine(note, np, numba)}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30_000, help="frames per case")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    rows = []
    for i, (variant, n, q) in enumerate(CASES):
        rows.append(run_case(variant, n, q, args.frames, 1000 + i))
        print(f"{variant} n={n} Q={q}: {rows[-1]}", flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        body = f"{BEGIN}\n## Residual frame error after verification (`benchmarks/bench_cascade_fer.py`)\n\n{text}\n{END}"  # noqa: E501
        _docs.replace_section(BEGIN, END, body, DOC)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
