"""Constellation registration after simulated power cycles: success, error, compute time.

Synthetic cycles (the registry: 1200 emitters uniform on a 200 µm chip, 0.03 /µm²; the view:
a 30 µm square at the stage origin; detected positions with 40 nm noise): for each cycle a
random chip → stage similarity, a fraction of the registry emitters in view missing
(bleached) and the same fraction of new spots. Two severities: the twin's default
(referenced homing: shift ≤ 2 µm, rotation N(0, 5e-5 rad)) and the issue's hard case
(60 µm, 3°, 30 % turnover). Target: the chip point 40 µm from the view centre; success =
predicted stage position within 150 nm (half the PSF FWHM) of the truth.

Peer: the translation-only return of Qudi's POI manager (one reference point, re-found
perfectly, no rotation; Qudi removed its rotation support): the translation is taken exact
at the view centre, so its error at the target is the rotation's lever arm. Run:
``python benchmarks/bench_registration.py`` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import scipy

import _docs
from qlight.mapping.registration import (
    ConstellationConfig,
    RegistrationFailed,
    match_constellation,
)
from qlight.mapping.similarity import Similarity2D

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_registration: begin (written by benchmarks/bench_registration.py) -->"
END = "<!-- bench_registration: end -->"
HALF_VIEW_M = 15e-6
NOISE_M = 40e-9
TARGET_OFFSET_M = 40e-6
SUCCESS_M = 150e-9


def _cycle(
    chip: np.ndarray, rng: np.random.Generator, shift_m: float, rot_rad: float, turnover: float
) -> tuple[Similarity2D, np.ndarray]:
    theta = rng.uniform(-rot_rad, rot_rad) if rot_rad > 0 else rng.normal(0.0, 5e-05)
    r = shift_m * math.sqrt(rng.uniform())
    phi = rng.uniform(0, 2 * math.pi)
    t = Similarity2D(r * math.cos(phi), r * math.sin(phi), theta, 1.0 + rng.normal(0, 5e-5))
    st = t.apply_points(chip)
    inview = np.nonzero(np.all(np.abs(st) < HALF_VIEW_M, axis=1))[0]
    kept = inview[rng.random(inview.size) >= turnover]
    spots = st[kept] + rng.normal(0.0, NOISE_M, (kept.size, 2))
    n_new = rng.binomial(inview.size, turnover)
    new = rng.uniform(-HALF_VIEW_M, HALF_VIEW_M, (n_new, 2))
    return t, np.vstack([spots, new])


def run(n_cycles: int, seed: int) -> list[dict[str, float | str]]:
    rng = np.random.default_rng(seed)
    chip = rng.uniform(-100e-6, 100e-6, (1200, 2))
    rows: list[dict[str, float | str]] = []
    cases = [
        ("default (≤ 2 µm, 5e-5 rad)", 2e-6, 0.0, 0.1),
        ("hard (60 µm, 3°, 30 % turnover)", 60e-6, math.radians(3.0), 0.3),
    ]
    for name, shift, rot, turnover in cases:
        cfg = ConstellationConfig(sigma_m=NOISE_M)
        err, peer_err, dt, fails = [], [], [], 0
        for _ in range(n_cycles):
            t, spots = _cycle(chip, rng, shift, rot, turnover)
            target_chip = t.apply_inverse(TARGET_OFFSET_M, 0.0)
            tx, ty = (float(v) for v in target_chip)
            t0 = time.perf_counter()
            try:
                reg = match_constellation(chip, spots, prior=Similarity2D.identity(), config=cfg)
            except RegistrationFailed:
                fails += 1
                err.append(math.inf)
                dt.append(time.perf_counter() - t0)
                continue
            dt.append(time.perf_counter() - t0)
            px, py, _ = reg.fit.predict(tx, ty)
            err.append(math.hypot(px - TARGET_OFFSET_M, py))
            # peer: translation exact at the view centre, rotation ignored
            c0 = t.apply_inverse(0.0, 0.0)
            peer = Similarity2D(-float(c0[0]), -float(c0[1]), 0.0, 1.0)
            qx, qy = peer.apply(tx, ty)
            peer_err.append(math.hypot(float(qx) - TARGET_OFFSET_M, float(qy)))
        e = np.array(err)
        pe = np.array(peer_err)
        rows.append(
            {
                "case": name,
                "success": float(np.mean(e < SUCCESS_M)),
                "failed": fails,
                "median_nm": float(np.median(e[np.isfinite(e)])) * 1e9,
                "p95_nm": float(np.percentile(e, 95)) * 1e9,
                "peer_success": float(np.mean(pe < SUCCESS_M)),
                "peer_median_nm": float(np.median(pe)) * 1e9,
                "t_median_ms": float(np.median(dt)) * 1e3,
                "t_max_ms": float(np.max(dt)) * 1e3,
            }
        )
    return rows


def _machine() -> str:
    return _docs.machine("one used, shared with other jobs", np, scipy)


def table(rows: list[dict[str, float | str]], n: int) -> str:
    lines = [
        f"{n} synthetic power cycles per row; registry 1200 emitters / 200 µm chip, view "
        f"30 µm, detection noise {NOISE_M * 1e9:.0f} nm, target 40 µm from the view centre, "
        f"success = within {SUCCESS_M * 1e9:.0f} nm. Peer: translation-only return from one "
        "perfectly re-found reference (Qudi POI manager).",
        "",
        "| case | **qlight success** | failed | median error (nm) | p95 (nm) | "
        "peer success | peer median (nm) | compute median (ms) | compute max (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | **{100 * float(r['success']):.1f} %** | {r['failed']} | "
            f"{float(r['median_nm']):.1f} | {float(r['p95_nm']):.1f} | "
            f"{100 * float(r['peer_success']):.1f} % | {float(r['peer_median_nm']):.1f} | "
            f"{float(r['t_median_ms']):.0f} | {float(r['t_max_ms']):.0f} |"
        )
    lines += ["", f"Machine: {_machine()}."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    body = (
        f"{BEGIN}\n## Registration after power cycles: constellation vs translation-only "
        f"(`benchmarks/bench_registration.py`)\n\n{text}\n{END}"
    )
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = table(run(args.cycles, args.seed), args.cycles)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
