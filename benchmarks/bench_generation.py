"""Benchmark: detected time tags generated per second on one core (photon streams → tags).

Compares, in the same run and on the same emitter, qlight's exact renewal generator with a
naive reference: a transition-by-transition Gillespie simulation of the same rate model
compiled with numba. Both feed the same beam splitter, detector and tagger stages. Prints a
table and rewrites its own section of ``docs/benchmarks.md`` (between the markers below)
together with the machine it ran on.

Run: ``.venv/bin/python benchmarks/bench_generation.py [--seconds 1.0] [--no-write]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numba import njit
from numpy.typing import NDArray

import _docs
from qlight._numba import JIT
from qlight.physics.detectors import SI_SPAD, apply_detector, split_and_jitter, tag_channel
from qlight.physics.emitter import Blinking, EmitterPhotophysics
from qlight.physics.hbt import Excitation, HBTSetup, PhotonSource, simulate_hbt
from qlight.physics.photons import generate_arrivals

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_generation: begin (written by benchmarks/bench_generation.py) -->"
END = "<!-- bench_generation: end -->"

#: A GaN-like emitter (REFERENCES.md estimates: 2 ns lifetime, 100 ns shelving).
EMITTER = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
BLINKING = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8, blinking=Blinking(2e7, 100.0, 1e4))
ETA = 0.05
SETUP = HBTSetup((SI_SPAD, SI_SPAD), background_cps_per_w=1e7)  # 10 kcps/mW per detector


@njit(**JIT)  # type: ignore[untyped-decorator]
def _gillespie_kernel(
    rng: np.random.Generator,
    k12: float,
    k21: float,
    k23: float,
    k31: float,
    qe: float,
    eta: float,
    t_end: float,
    out: NDArray[np.float64],
) -> int:
    """Reference: one exponential and one uniform per transition (rates in 1/ps)."""
    t = 0.0
    level = 1
    n = 0
    k2 = k21 + k23
    while True:
        if level == 1:
            t += rng.standard_exponential() / k12
            level = 2
        elif level == 2:
            t += rng.standard_exponential() / k2
            u = rng.random() * k2
            if u < k21:
                level = 1
                if u < qe * k21 and rng.random() < eta and t < t_end:
                    if n == out.size:
                        return -1
                    out[n] = t
                    n += 1
            else:
                level = 3
        else:
            t += rng.standard_exponential() / k31
            level = 1
        if t >= t_end:
            return n


def gillespie_arrivals(
    ph: EmitterPhotophysics,
    power_w: float,
    eta: float,
    duration_ps: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Detected arrivals by the naive transition-by-transition Gillespie simulation."""
    r = ph.rates_at(power_w)
    mean = eta * ph.emission_rate_at(power_w) * duration_ps * 1e-12
    out = np.empty(int(mean + 10 * math.sqrt(mean) + 1000))
    n = _gillespie_kernel(
        rng,
        r.k12_per_ns * 1e-3,
        r.k21_per_ns * 1e-3,
        r.k23_per_ns * 1e-3,
        r.k31_per_ns * 1e-3,
        r.qe,
        eta,
        duration_ps,
        out,
    )
    if n < 0:
        raise RuntimeError("reference buffer too small")
    return out[:n]


def _detect(
    t_ps: NDArray[np.float64], power_w: float, dur_ps: int, rng: np.random.Generator
) -> int:
    """The same splitter, detector and tagger stages as simulate_hbt; returns the tag count."""
    s = (SI_SPAD.jitter_sigma_ps, SI_SPAD.jitter_sigma_ps)
    n = 0
    for k, arr in enumerate(split_and_jitter(t_ps, 0.5, s, rng)):
        reg = apply_detector(arr, SI_SPAD, dur_ps, rng, extra_cps=1e7 * power_w)
        n += tag_channel(reg, SETUP.tagger, k, in_place=True).size
    return n


@dataclass
class Row:
    name: str
    tags: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tags / self.seconds


def _best(fn: Callable[[np.random.Generator], int], repeats: int = 3) -> tuple[int, float]:
    fn(np.random.default_rng(0))  # compile / warm the caches
    best, tags = math.inf, 0
    for i in range(repeats):
        rng = np.random.default_rng(100 + i)
        t0 = time.perf_counter()
        tags = fn(rng)
        best = min(best, time.perf_counter() - t0)
    return tags, best


def run(seconds: float) -> list[Row]:
    """Time each scenario for ``seconds`` of simulated acquisition (best of 3)."""
    p_sat = EMITTER.saturation()[1]
    dur_ps = round(seconds * 1e12)
    rows: list[Row] = []

    def hbt(ph: EmitterPhotophysics, exc: Excitation) -> Callable[[np.random.Generator], int]:
        def f(rng: np.random.Generator) -> int:
            tags = simulate_hbt([PhotonSource(ph, ETA)], exc, SETUP, seconds, rng)
            return sum(t.size for t in tags.t_ps)

        return f

    scenarios: list[tuple[str, Callable[[np.random.Generator], int]]] = [
        ("qlight simulate_hbt, CW at P_sat", hbt(EMITTER, Excitation(p_sat))),
        ("qlight simulate_hbt, CW at P_sat, blinking", hbt(BLINKING, Excitation(p_sat))),
        (
            "qlight simulate_hbt, CW, finite budget (counting path)",
            hbt(
                EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8, photon_budget=1e15),
                Excitation(p_sat),
            ),
        ),
        ("qlight simulate_hbt, CW at 4 P_sat", hbt(EMITTER, Excitation(4 * p_sat))),
        (
            "qlight simulate_hbt, pulsed 80 MHz, 50 ps",
            hbt(EMITTER, Excitation(p_sat, rep_rate_hz=80e6, pulse_width_ps=50.0)),
        ),
        (
            "  generation only (generate_arrivals), CW at P_sat",
            lambda rng: generate_arrivals(EMITTER, p_sat, ETA, float(dur_ps), rng).t_ps.size,
        ),
        (
            "naive Gillespie (numba) + same detectors, CW at P_sat",
            lambda rng: _detect(
                gillespie_arrivals(EMITTER, p_sat, ETA, dur_ps, rng), p_sat, dur_ps, rng
            ),
        ),
        (
            "  naive Gillespie generation only, CW at P_sat",
            lambda rng: gillespie_arrivals(EMITTER, p_sat, ETA, dur_ps, rng).size,
        ),
    ]
    for name, fn in scenarios:
        tags, secs = _best(fn)
        rows.append(Row(name, tags, secs))
    return rows


def _machine() -> str:
    return _docs.machine("one used", np, numba)


def table(rows: list[Row], seconds: float) -> str:
    ref = next(r for r in rows if r.name.startswith("naive Gillespie (numba) +"))
    lines = [
        f"Simulated acquisition: {seconds:g} s per run, best of 3; emitter k21 = 0.5/ns, "
        f"k23 = 0.02/ns, k31 = 0.01/ns, qe = 0.8, η = {ETA}, two Si SPADs "
        "(22 ns dead time, 350 ps jitter, 1 % afterpulsing), background 10 kcps/mW per "
        "detector. Tags/s = detected tags (both channels, after dead time) per second of "
        "wall time on one core.",
        "",
        "| scenario | tags | time (s) | tags/s (M) | vs naive |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name.strip()} | {r.tags:,} | {r.seconds:.3f} | {r.rate / 1e6:.1f} | "
            f"{r.rate / ref.rate:.1f}× |"
        )
    lines += ["", f"Machine: {_machine()}."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    body = (
        f"{BEGIN}\n## Photon-stream generation (`benchmarks/bench_generation.py`)\n\n{text}\n{END}"
    )
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="simulated seconds per run")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    text = table(run(args.seconds), args.seconds)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
