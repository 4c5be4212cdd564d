"""Benchmark: one axisymmetric FDFD solve of a 10-ring GaN bullseye (qlight.photonics.fdfd).

Times, in the same run, ``axisymmetric_emission`` for a 10-ring bullseye in a suspended
160 nm GaN membrane 300 nm above gold at λ = 650 nm (both dipole orientations: an m = +1
and an m = 0 solve plus the cached bulk references) at 13 and 10 nm resolution (10 nm:
Purcell factors within 0.2–0.3 % of the exact planar solver, docs/photonics-fdfd.md), and
as peer the exact planar solver (``planar_emission``) on the same membrane without rings —
the only other solver available in the environment: Meep, the usual tool, is not
pip-installable. Issue 10's goal: ≤ 20 s per converged bullseye solve on 2 cores. Prints a
table and rewrites its own section of ``docs/benchmarks.md``.

Run: ``.venv/bin/python benchmarks/bench_fdfd.py [--no-write]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse.linalg as spla

import _docs
from qlight.photonics import parse_stack, planar_emission
from qlight.photonics.fdfd import assemble, axis_dipole, axisymmetric_emission, bulk_power
from qlight.photonics.fdfd.ordering import grid_coordinates, nested_dissection
from qlight.photonics.fdfd.pardiso import pardiso_available, pardiso_solve
from qlight.photonics.fdfd.results import _grid_for
from qlight.photonics.fdfd.solve import _one_blas_thread
from qlight.photonics.structures import AxisymmetricStructure, bullseye, planar_structure

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_fdfd: begin (written by benchmarks/bench_fdfd.py) -->"
END = "<!-- bench_fdfd: end -->"
LAM = 650.0


def _structure() -> AxisymmetricStructure:
    return bullseye(
        membrane_nm=160.0,
        period_nm=320.0,
        trench_nm=100.0,
        disc_radius_nm=400.0,
        n_rings=10,
        spacer_nm=300.0,
        spacer="air",
        reflector="Au",
    )


def solver_rows(h_nm: float = 10.0) -> list[tuple[str, float, str]]:
    """Each sparse backend on the same matrix: the m = 1 (h dipole) bullseye operator."""
    s = _structure()
    lam = LAM
    grid, _ = _grid_for(
        s,
        lam,
        h_nm,
        "h",
        s.max_feature_radius_nm + 1.5 * lam,
        0.5 * lam,
        max(3 * h_nm, 0.25 * lam),
        0.8 * lam,
    )
    dip = axis_dipole(grid, "h", s.emitter_z_nm)
    op = assemble(s, grid, dip.m)
    a = op.matrix
    n = a.shape[0]
    b = np.zeros(n, dtype=np.complex128)
    b[n // 3] = 1j
    coords = grid_coordinates(grid, op.keep)
    rows: list[tuple[str, float, str]] = []
    ref: np.ndarray | None = None

    def add(label: str, dt: float, x: np.ndarray, extra: str) -> None:
        nonlocal ref
        res = float(np.linalg.norm(a @ x - b) / np.linalg.norm(b))
        diff = (
            ""
            if ref is None
            else f", max deviation from SuperLU MMD {np.abs(x - ref).max() / np.abs(ref).max():.1e}"
        )
        if ref is None:
            ref = x
        rows.append(
            (
                f"h = {h_nm:g} nm, {n} unknowns (m = 1): {label}",
                dt,
                f"residual {res:.1e}{diff}{extra}",
            )
        )

    opts = {"diag_pivot_thresh": 0.1, "options": {"SymmetricMode": True}}
    blas1 = _one_blas_thread()  # as in the solver (one OpenBLAS thread for SuperLU)
    blas1.__enter__()
    t0 = time.perf_counter()
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", **opts)
    x = lu.solve(b)
    add(
        "SuperLU, MMD(AᵀA+A) ordering (previous default)",
        time.perf_counter() - t0,
        x,
        f"; L+U {lu.L.nnz + lu.U.nnz:.2e}",
    )
    t0 = time.perf_counter()
    p = nested_dissection(a, coords)
    t_nd = time.perf_counter() - t0
    lu = spla.splu(a[p][:, p].tocsc(), permc_spec="NATURAL", **opts)
    x = np.empty_like(b)
    x[p] = lu.solve(b[p])
    add(
        "SuperLU, geometric nested dissection + NATURAL (new fallback)",
        time.perf_counter() - t0,
        x,
        f"; L+U {lu.L.nnz + lu.U.nnz:.2e}; ordering {t_nd:.2f} s",
    )
    blas1.__exit__(None, None, None)
    if pardiso_available():
        t0 = time.perf_counter()
        x = pardiso_solve(a, b)
        add(
            f"MKL PARDISO, {os.cpu_count()} threads (new default when installed)",
            time.perf_counter() - t0,
            x,
            "",
        )
    return rows


def run() -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = solver_rows()
    s = _structure()
    solvers = ("pardiso", "superlu") if pardiso_available() else ("superlu",)
    for h in (13.0, 10.0):
        for solver in solvers:
            bulk_power.cache_clear()
            t0 = time.perf_counter()
            res = axisymmetric_emission(s, LAM, na=0.9, resolution_nm=h, solver=solver)
            dt = time.perf_counter() - t0
            n = res.results["h"].n_unknowns
            per = ", ".join(f"{o} {r.seconds:.1f} s" for o, r in res.results.items())
            rows.append(
                (
                    f"bullseye, 10 rings, h = {h:g} nm ({n} unknowns per order), {solver} ({per})",
                    dt,
                    f"Purcell h {res.purcell('h'):.2f}, v {res.purcell('v'):.2f}; "
                    f"NA 0.9: h {res.collection_efficiency('h'):.3f}, "
                    f"v {res.collection_efficiency('v'):.3f}",
                )
            )
    stack = parse_stack("air/GaN:160@80/air:300/Au")
    planar_emission(stack, LAM, na=0.9)
    t0 = time.perf_counter()
    ex = planar_emission(stack, LAM, na=0.9)
    dt = time.perf_counter() - t0
    rows.append(
        (
            "peer: exact planar solver, same membrane without rings",
            dt,
            f"Purcell h {ex.purcell('h'):.2f}; NA 0.9: h {ex.collection_efficiency('h'):.3f}",
        )
    )
    return rows


def _machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    note = f"SuperLU uses one, PARDISO all; load average {load:.1f} during the run"
    return _docs.machine(note, np, scipy)


def table(rows: list[tuple[str, float, str]]) -> str:
    lines = [
        f"λ = {LAM:g} nm, suspended 160 nm GaN membrane 300 nm above Au, period 320 nm, "
        "trench 100 nm, central disc radius 400 nm, full etch; one run each (h and v "
        "orientations, bulk references included). Goal: ≤ 20 s. The first rows time each "
        "sparse backend on the same matrix.",
        "",
        "| scenario | time (s) | result |",
        "|---|---:|---|",
    ]
    for label, t, result in rows:
        lines.append(f"| {label} | {t:.2f} | {result} |")
    lines += ["", f"Machine: {_machine()}."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    body = f"{BEGIN}\n## Axisymmetric FDFD (`benchmarks/bench_fdfd.py`)\n\n{text}\n{END}"
    _docs.replace_section(BEGIN, END, body, DOC)


def convergence(resolutions_nm: list[float], r_max_nm: float = 6000.0) -> str:
    """Markdown table: dipole 200 nm under flat GaN vs the exact planar solver."""
    stack = parse_stack("air/GaN@200")
    ex = planar_emission(stack, LAM, na=0.9)
    lines = [
        "| h (nm) | unknowns / order | time (s) | Purcell h | Purcell v | NA 0.9 h | NA 0.9 v "
        "| top h | top v |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h in resolutions_nm:
        t0 = time.perf_counter()
        res = axisymmetric_emission(
            planar_structure(stack), LAM, na=0.9, resolution_nm=h, r_max_nm=r_max_nm
        )
        dt = time.perf_counter() - t0
        dev = [
            res.purcell("h") / ex.purcell("h") - 1,
            res.purcell("v") / ex.purcell("v") - 1,
            res.collection_efficiency("h") / ex.collection_efficiency("h") - 1,
            res.collection_efficiency("v") / ex.collection_efficiency("v") - 1,
            res.radiated_to_top("h") / ex.radiated_to_top("h") - 1,
            res.radiated_to_top("v") / ex.radiated_to_top("v") - 1,
        ]
        cells = " | ".join(f"{100 * d:+.2f} %" for d in dev)
        lines.append(f"| {h:g} | {res.results['h'].n_unknowns} | {dt:.0f} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--convergence",
        nargs="*",
        type=float,
        metavar="H_NM",
        help="print the planar convergence table (docs/photonics-fdfd.md) instead",
    )
    args = parser.parse_args()
    if args.convergence is not None:
        print(convergence(args.convergence or [20.0, 13.0, 10.0, 8.0]))
        return
    text = table(run())
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
