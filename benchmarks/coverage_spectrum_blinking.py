"""Coverage of the 95 % intervals of the spectrum fit and the blinking analysis on the twin.

Spectrum: repeated 0.5 s exposures of one twin emitter (seed 31; the spectrometer draws fresh
Poisson noise each time, the truth is the emitter's photophysics): ZPL centre, FWHM and
Debye–Waller factor. Blinking: ``simulate_hbt`` records of 4 s with telegraph blinking
(k_off = 25 /s, k_on = 50 /s), one seed each: mean on and off times and the on fraction.
Results (Wilson 95 % intervals of the fractions) go to the ``coverage-G`` section of
``docs/characterization.md``.

Usage: ``python benchmarks/coverage_spectrum_blinking.py [N_TRIALS]``.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.coverage_characterization import wilson  # noqa: E402
from tests.characterization_more import TwinSpectra, blinking_trial  # noqa: E402

DOC = ROOT / "docs" / "characterization.md"
BEGIN, END = "<!-- coverage-G: begin -->", "<!-- coverage-G: end -->"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    t0 = time.perf_counter()
    trials = [blinking_trial(seed) for seed in range(n)]
    ts = TwinSpectra()
    spectra = [ts.trial() for _ in range(n)]
    wall = time.perf_counter() - t0
    lines = [
        BEGIN,
        f"Coverage of the spectrum and blinking intervals over {n} trials each "
        f"({platform.processor() or platform.machine()}, 1 process, {wall:.0f} s):",
        "",
        "| quantity | intervals containing the truth | fraction | Wilson 95 % |",
        "|---|---|---|---|",
    ]
    for rows in (spectra, trials):
        for key in rows[0]:
            k = sum(t[key] for t in rows)
            lo, hi = wilson(k, n)
            lines.append(f"| `{key}` | {k}/{n} | {k / n:.3f} | [{lo:.3f}, {hi:.3f}] |")
            print(f"{key}: {k}/{n} = {k / n:.3f}  Wilson [{lo:.3f}, {hi:.3f}]")
    lines.append(END)
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END) :]
    else:
        text += "\n" + "\n".join(lines) + "\n"
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
