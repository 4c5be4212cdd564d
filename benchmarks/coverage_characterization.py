"""Coverage of the 95 % intervals of g2(0), lifetime, I∞ and P_sat on the twin (issue 6).

For each seed, :func:`tests.characterization_twin.coverage_trial` simulates a CW and a pulsed
HBT acquisition and a saturation series with :func:`qlight.physics.hbt.simulate_hbt` and
checks whether each interval contains the twin's exact value. The fraction of seeds that
contain it must lie in 93–97 %. Results (with Wilson 95 % intervals of the fractions) go to
the ``coverage`` section of ``docs/characterization.md``.

Usage: ``python benchmarks/coverage_characterization.py [N_SEEDS] [N_PROCESSES]``.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.characterization_twin import coverage_trial  # noqa: E402

DOC = ROOT / "docs" / "characterization.md"
BEGIN, END = "<!-- coverage: begin -->", "<!-- coverage: end -->"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson, JASA 22, 209 (1927))."""
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    t0 = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        trials = list(pool.map(coverage_trial, range(n)))
    wall = time.perf_counter() - t0
    lines = [
        BEGIN,
        f"Coverage over {n} seeds (seeds 0–{n - 1}; {platform.processor() or platform.machine()},"
        f" {procs} processes, {wall:.0f} s):",
        "",
        "| quantity | intervals containing the truth | fraction | Wilson 95 % | in 93–97 %? |",
        "|---|---|---|---|---|",
    ]
    for key in trials[0]:
        k = sum(t[key] for t in trials)
        lo, hi = wilson(k, n)
        ok = "yes" if 0.93 <= k / n <= 0.97 else "no"
        lines.append(f"| `{key}` | {k}/{n} | {k / n:.3f} | [{lo:.3f}, {hi:.3f}] | {ok} |")
        print(f"{key}: {k}/{n} = {k / n:.3f}  Wilson [{lo:.3f}, {hi:.3f}]")
    lines.append(END)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END) :]
    else:
        text += "\n" + "\n".join(lines) + "\n"
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
