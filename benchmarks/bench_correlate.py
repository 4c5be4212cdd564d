"""Benchmark: correlation throughput of qlight against a plain numba merge, pycorrelate, tttrlib.

Two Poisson channels at 1 Mcps each (1 s, 2 M tags, integer ps), the same tags for every
contender, in the same run:

* linear g2, ±100 ns in 100 ps bins: qlight ``cross_correlate`` (public call, validation
  included) against the straightforward numba sorted-merge histogram written below (the
  baseline; counts must be identical) and pycorrelate's ``pcorrelate`` (run on a 50 ms slice,
  its counts compared with qlight's on the same slice; throughput scaled per tag);
* multi-tau, 1 ns to 0.5 s, 8 lags per octave: qlight ``multitau_correlate`` against tttrlib's
  correlators (``felekyan``, its fastest here, and ``wahl``) with the same cascade.

Tags/s = tags of both channels divided by wall time on one core, best of the repeats.
Prints a table and rewrites its section of ``docs/benchmarks.md`` with the machine.

Run: ``.venv/bin/python benchmarks/bench_correlate.py [--repeats 5] [--no-write]``.
Peers (benchmark-only): ``pip install pycorrelate tttrlib``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import njit
from numpy.typing import NDArray

import _docs
from qlight._numba import JIT
from qlight.timetags.correlate import cross_correlate
from qlight.timetags.multitau import multitau_correlate

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_correlate: begin (written by benchmarks/bench_correlate.py) -->"
END = "<!-- bench_correlate: end -->"

RATE_PER_S = 1e6
DURATION_PS = 10**12
WINDOW_PS = 100_000
BIN_PS = 100
PYCORRELATE_SLICE_PS = 5 * 10**10  # 50 ms: pcorrelate is far too slow for the whole second
MT_BASE_PS = 1000
MT_LEVELS = 26  # 8 lags per level up to 8·2^26 ns ≈ 0.54 s


@njit(**JIT)  # type: ignore[untyped-decorator]
def merge_histogram(
    a: NDArray[np.int64], b: NDArray[np.int64], window: int, width: int, counts: NDArray[np.int64]
) -> None:
    """Baseline: the straightforward sorted-merge all-pairs histogram (one division per pair)."""
    n_b = b.shape[0]
    lo = 0
    for i in range(a.shape[0]):
        low = a[i] - window
        high = a[i] + window
        while lo < n_b and b[lo] < low:
            lo += 1
        j = lo
        while j < n_b and b[j] < high:
            counts[(b[j] - a[i] + window) // width] += 1
            j += 1


@dataclass
class Row:
    """One line of the result table."""

    name: str
    tags: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.tags / self.seconds


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _streams(rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = int(RATE_PER_S * DURATION_PS * 1e-12)
    a = np.sort(rng.integers(0, DURATION_PS, rng.poisson(n)))
    b = np.sort(rng.integers(0, DURATION_PS, rng.poisson(n)))
    return a, b


def run_linear(a: NDArray[np.int64], b: NDArray[np.int64], repeats: int) -> list[Row]:
    """qlight vs the merge baseline vs pycorrelate on the linear ±100 ns / 100 ps g2."""
    n = a.size + b.size
    cross_correlate(a[:100], b[:100], window_ps=WINDOW_PS, bin_ps=BIN_PS)  # compile
    c0 = np.zeros(2 * WINDOW_PS // BIN_PS, np.int64)
    merge_histogram(a[:100], b[:100], WINDOW_PS, BIN_PS, c0)
    t_q, (_, counts) = _best(
        lambda: cross_correlate(a, b, window_ps=WINDOW_PS, bin_ps=BIN_PS), repeats
    )

    def baseline() -> NDArray[np.int64]:
        c = np.zeros(2 * WINDOW_PS // BIN_PS, np.int64)
        merge_histogram(a, b, WINDOW_PS, BIN_PS, c)
        return c

    t_m, base = _best(baseline, repeats)
    if not np.array_equal(counts, base):
        raise SystemExit("qlight and the merge baseline disagree")
    rows = [
        Row("qlight cross_correlate", n, t_q, "counts identical to the merge"),
        Row("numba sorted merge (baseline)", n, t_m),
    ]
    try:
        import pycorrelate
    except ImportError:
        rows.append(Row("pycorrelate pcorrelate", 0, float("nan"), "not installed"))
        return rows
    sa = a[a < PYCORRELATE_SLICE_PS]
    sb = b[b < PYCORRELATE_SLICE_PS]
    bins = np.arange(-WINDOW_PS, WINDOW_PS + 1, BIN_PS)
    t_p, pc = _best(lambda: pycorrelate.pcorrelate(sa, sb, bins), 1)
    _, mine = cross_correlate(sa, sb, window_ps=WINDOW_PS, bin_ps=BIN_PS)
    # pcorrelate returns counts divided by the bin width (a density); undo that exactly
    same = np.array_equal(np.rint(np.asarray(pc) * np.diff(bins)).astype(np.int64), mine)
    rows.append(
        Row(
            "pycorrelate pcorrelate",
            sa.size + sb.size,
            t_p,
            f"50 ms slice; counts {'identical' if same else 'DIFFER'}",
        )
    )
    return rows


def run_multitau(a: NDArray[np.int64], b: NDArray[np.int64], repeats: int) -> list[Row]:
    """qlight multi-tau vs tttrlib's correlators, 1 ns … 0.5 s, 8 lags per octave."""
    n = a.size + b.size
    max_lag = 15 * (MT_BASE_PS << (MT_LEVELS - 1))
    multitau_correlate(a[:100], b[:100], duration_ps=DURATION_PS, max_lag_ps=10**6)  # compile
    t_q, res = _best(
        lambda: multitau_correlate(
            a, b, duration_ps=DURATION_PS, max_lag_ps=max_lag, base_ps=MT_BASE_PS
        ),
        repeats,
    )
    far = res.lags_ps > 10**6
    rows = [
        Row(
            "qlight multitau_correlate",
            n,
            t_q,
            f"{res.lags_ps.size} lags, mean g2 beyond 1 µs {res.g2[far].mean():.4f}",
        )
    ]
    try:
        import tttrlib
    except ImportError:
        rows.append(Row("tttrlib Correlator", 0, float("nan"), "not installed"))
        return rows
    ua = (a // MT_BASE_PS).astype(np.uint64)
    ub = (b // MT_BASE_PS).astype(np.uint64)
    wa = np.ones(ua.size)
    wb = np.ones(ub.size)
    for method in ("felekyan", "wahl"):

        def run(m: str = method) -> Any:
            c = tttrlib.Correlator(method=m, n_bins=8, n_casc=MT_LEVELS + 1)
            c.set_macrotimes(ua, ub)
            c.set_weights(wa, wb)
            return np.asarray(c.x_axis), np.asarray(c.correlation)

        t_t, (x, y) = _best(run, max(1, repeats // 2))
        sel = (x * MT_BASE_PS > 10**6) & np.isfinite(y)
        rows.append(
            Row(
                f"tttrlib Correlator ({method})", n, t_t, f"mean g2 beyond 1 µs {y[sel].mean():.4f}"
            )
        )
    return rows


def _machine() -> str:
    return _docs.machine("one used, shared with other jobs", np, numba)


def table(groups: list[tuple[str, list[Row]]]) -> str:
    lines = [
        "Two Poisson channels, 1 Mcps each, 1 s (2 M tags, int64 ps), same tags for all; "
        "best of the repeats on one core.",
        "",
    ]
    for title, rows in groups:
        ref = rows[0]
        lines += [
            f"### {title}",
            "",
            "| contender | tags | time (s) | tags/s (M) | qlight speed-up | note |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            speed = ref.rate / r.rate if r.tags else float("nan")
            rate = r.rate / 1e6 if r.tags else float("nan")
            cells = [r.name, f"{r.tags:,}", f"{r.seconds:.4f}", f"{rate:.2f}", f"{speed:.1f}×"]
            lines.append("| " + " | ".join([*cells, r.note]) + " |")
        lines.append("")
    lines.append(f"Machine: {_machine()}.")
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    body = f"{BEGIN}\n## Correlation (`benchmarks/bench_correlate.py`)\n\n{text}\n{END}"
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats per contender")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    a, b = _streams(np.random.default_rng(2024))
    groups = [
        ("Linear g2, ±100 ns, 100 ps bins", run_linear(a, b, args.repeats)),
        ("Multi-tau, 1 ns … 0.5 s, 8 lags per octave", run_multitau(a, b, args.repeats)),
    ]
    text = table(groups)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
