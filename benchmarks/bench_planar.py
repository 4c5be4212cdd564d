"""Benchmark: one exact planar dipole solve (qlight.photonics) against naive quadrature.

Times, in the same run, ``planar_emission`` (deformed complex contour, recursive Fresnel
coefficients, vectorised adaptive Gauss–Legendre) for a few stacks, ``guided_modes``, and
the naive reference: scipy ``quad`` straight along the real in-plane-wavevector axis with
2×2 transfer matrices evaluated point by point (``tests/naive.py``), which only works when
the stack absorbs (no pole on the real axis) and gives only the total power. Prints a
table and rewrites its own section of ``docs/benchmarks.md``.

Run: ``.venv/bin/python benchmarks/bench_planar.py [--repeats 5] [--no-write]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

import _docs
from qlight.photonics import guided_modes, material, parse_stack, planar_emission

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_planar: begin (written by benchmarks/bench_planar.py) -->"
END = "<!-- bench_planar: end -->"
LAM = 650.0


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(repeats: int) -> list[tuple[str, float, str]]:
    """(scenario, seconds, result) rows."""
    sys.path.insert(0, str(ROOT))
    from tests.naive import ph_total_power_real_axis

    rows: list[tuple[str, float, str]] = []
    dbr = "/".join(["GaN:68", "SiO2:111"] * 5)
    cases = [
        ("deep dipole under flat GaN, air/GaN@1000, NA 0.9", "air/GaN@1000"),
        (
            "GaN membrane on SiO2/Au mirror, air/GaN:150@75/SiO2:300/Au",
            "air/GaN:150@75/SiO2:300/Au",
        ),
        (
            "GaN cavity on a 10-layer DBR, air/GaN:272@136/(GaN:68/SiO2:111)×5/sapphire",
            f"air/GaN:272@136/{dbr}/sapphire",
        ),
    ]
    for label, spec in cases:
        stack = parse_stack(spec)
        t = _best(lambda stack=stack: planar_emission(stack, LAM, na=0.9), repeats)
        res = planar_emission(stack, LAM, na=0.9)
        rows.append(
            (
                f"qlight planar_emission: {label}",
                t,
                f"P_iso = {res.purcell('iso'):.5f}, η_iso = {res.collection_efficiency('iso'):.5f}",
            )
        )
    slab = parse_stack("air/GaN:600@100/sapphire")
    t = _best(lambda: guided_modes(slab, LAM), repeats)
    n = len(guided_modes(slab, LAM))
    rows.append(("qlight guided_modes: air/GaN:600@100/sapphire", t, f"{n} modes"))

    # the naive reference on the lossy membrane (total power only)
    eps = {m: material(m).epsilon(LAM) for m in ("GaN", "SiO2", "Au")}
    stack = parse_stack("air/GaN:150@75/SiO2:300/Au")
    ref = planar_emission(stack, LAM)

    def naive() -> tuple[float, float]:
        return ph_total_power_real_axis(
            [eps["GaN"], 1.0 + 0j],
            [],
            [eps["GaN"], eps["SiO2"], eps["Au"]],
            [300.0],
            75.0,
            75.0,
            LAM,
            40.0,
        )

    t = _best(naive, max(1, repeats // 2))
    h, v = naive()
    rows.append(
        (
            "naive real-axis quad + transfer matrices: the membrane, total power only",
            t,
            f"max Δ vs qlight = {max(abs(h - ref.total_h), abs(v - ref.total_v)):.1e}",
        )
    )
    return rows


def _machine() -> str:
    return _docs.machine("one used", np, scipy)


def table(rows: list[tuple[str, float, str]], repeats: int) -> str:
    naive = rows[-1][1]
    lines = [
        f"λ = {LAM:g} nm; best of {repeats} runs after a warm-up. One planar solve = total "
        "power, top and bottom radiation and power into NA 0.9 for both dipole orientations "
        "(quadrature tolerance 1e-9).",
        "",
        "| scenario | time (ms) | vs naive | result |",
        "|---|---:|---:|---|",
    ]
    for label, t, result in rows:
        lines.append(f"| {label} | {1e3 * t:.2f} | {naive / t:.0f}× | {result} |")
    lines += ["", f"Machine: {_machine()}."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    body = f"{BEGIN}\n## Planar dipole emission (`benchmarks/bench_planar.py`)\n\n{text}\n{END}"
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = run(args.repeats)
    text = table(rows, args.repeats)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")
    assert math.isfinite(rows[0][1])


if __name__ == "__main__":
    main()
