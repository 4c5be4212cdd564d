"""The power-cycle harness on the twin: correct returns, error vs CRLB, time to photons.

Runs :func:`qlight.cli.demo_powercycle.run_powercycles` (first boot + N power cycles,
graded by the twin's truth) at the twin's default severity and at the issue's hard case
(unreferenced homing up to 60 µm, rotation 3° (3σ), 30 % emitter turnover per cycle).

Peer (same run, hard case): the previous harness strategy — one ±22 µm coarse surface sweep
centred on the last cycle's surface, a single mark window, no identity check after the
refocus and no switch when the target is gone (whatever the refocus finds is taken as the
target). Run: ``python benchmarks/bench_powercycle.py`` (writes its section of
docs/benchmarks.md); ``--cycles`` and ``--peer-cycles`` shorten it.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy

import _docs
from qlight.cli import _powercycle_control as control
from qlight.cli.demo_powercycle import run_powercycles
from qlight.mapping.fiducials import find_marks, focus_surface, mark_scan_window
from qlight.mapping.registration import Registration, RegistrationFailed, register

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_powercycle: begin (written by benchmarks/bench_powercycle.py) -->"
END = "<!-- bench_powercycle: end -->"
HARD: dict[str, Any] = {"max_shift_um": 60.0, "max_rotation_deg": 3.0, "turnover": 0.3}


class _PeerController(control.PowerCycleController):
    """The old strategy (see module docstring)."""

    def _surface(self) -> float:
        lo, hi = self.ins.stage.travel_range_m[2]
        z0 = min(max(self.z_surf, lo + 22e-6), hi - 22e-6)
        zc = focus_surface(self.ins.scanner, 0.0, 0.0, z0, span_m=44e-6, n_steps=45)
        zc = min(max(zc, lo + 1.5e-6), hi - 1.5e-6)
        z = focus_surface(self.ins.scanner, 0.0, 0.0, zc, span_m=3e-6, n_steps=31)
        self.z_surf = z  # chained even when wrong, as before
        return z

    def _register(self, z_m: float) -> Registration:
        x, y, w = mark_scan_window(self.prior, control._LAYOUT)
        img = self.ins.scanner.raster_scan(x, y, 2 * w, 2 * w, 0.15e-6, 5e-5, z_m=z_m)
        return register(find_marks(img, control._LAYOUT, *self.size), prior=self.prior)

    def cycle(self) -> control.CycleOutcome:
        self._laser_on()
        try:
            z = self._surface()
            reg = self._register(z)
        except RegistrationFailed as e:
            return control.CycleOutcome("failed", f"registration: {e}")
        self.z_surf, self.prior = z, reg.transform
        assert self.target is not None
        res, _ = self._refocus_at(reg, self.target)
        if not res.ok:
            return control.CycleOutcome("failed", res.reason)
        self._adopt(reg, self.target, res, self.target.zpl_nm)
        return control.CycleOutcome("returned", "", res)

    def top_up(self) -> int:
        return 0  # the old strategy kept no candidate list


def _run(cycles: int, seed: int, peer: bool, **kw: Any) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    ctl = _PeerController if peer else control.PowerCycleController
    out = run_powercycles(cycles, seed, controller=ctl, **kw)
    return out, time.perf_counter() - t0


def _row(name: str, out: dict[str, Any]) -> str:
    s = out["summary"]
    rows = out["cycles"]
    n_ok = sum(r["same_emitter"] for r in rows)
    comp = np.array([r["compute_s"] for r in rows])
    sw = np.array([r["sim_time_to_photons_s"] for r in rows if r["outcome"] == "switched"])
    top = np.array([r.get("sim_topup_s", 0.0) for r in rows])
    sw_txt = f"{np.median(sw):.1f} / {sw.max():.1f} ({int((sw > 30).sum())})" if sw.size else "–"
    return (
        f"| {name} | **{n_ok}/{len(rows)}** | {s['n_target_gone']} | {s['n_switched']} | "
        f"{s['n_failed']} | {s['median_error_nm']:.2f} | {s['p95_error_nm']:.2f} | "
        f"{s['crlb_nm']:.2f} | {s['median_sim_time_to_photons_s']:.1f} | "
        f"{s['p95_sim_time_to_photons_s']:.1f} | {float(np.median(comp)):.2f} | "
        f"{float(np.max(comp)):.2f} | {sw_txt} | {float(np.median(top)):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--peer-cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--dump", type=Path, help="also write each run's JSON into this folder")
    args = parser.parse_args()
    runs = [
        ("default severity", *_run(args.cycles, args.seed, False)),
        ("60 µm, 3°, 30 % turnover", *_run(args.cycles, args.seed, False, **HARD)),
        ("peer (old strategy), hard case", *_run(args.peer_cycles, args.seed, True, **HARD)),
    ]
    lines = [
        BEGIN,
        "## Power-cycle harness on the twin (`benchmarks/bench_powercycle.py`, issue 4)",
        "",
        f"`qlight demo powercycle --seed {args.seed}`: first boot + N power cycles graded by the "
        "twin's truth. Correct = returned to the same physical emitter, or (target truly "
        "bleached) switched to the qualified candidate it chose. Errors in nm (final position "
        "vs truth), CRLB = median per-refocus MLE bound; times: simulated power-on → photons "
        "(s, the 30 s boot excluded) and compute per cycle (s, process CPU time of the control "
        "code including the twin's rendering inside the scans: an upper bound). Top-up: "
        "simulated time after each cycle's photons spent probing and re-qualifying "
        "candidates (`PowerCycleController.top_up`; emission paused meanwhile, not counted "
        "in t→photons).",
        "",
        "| case | correct | target gone | switched | failed | median err | p95 err | CRLB "
        "| t→photons median | p95 | compute median | max | switch t→photons median / max "
        "(> 30 s) | top-up median (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(name, out) for name, out, _ in runs]
    if args.dump is not None:
        args.dump.mkdir(parents=True, exist_ok=True)
        for k, (_, out, _) in enumerate(runs):
            (args.dump / f"run{k}.json").write_text(json.dumps(out, default=float))
    wall = ", ".join(f"{name}: {w:.0f} s" for name, _, w in runs)
    lines += [
        "",
        f"Wall time per run: {wall}.",
        "",
        f"Machine: {_docs.machine('one used, shared with other jobs', np, scipy)}.",
        END,
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        _docs.replace_section(BEGIN, END, body, DOC)
    if any(math.isnan(out["summary"]["median_error_nm"]) for _, out, _ in runs):
        print("warning: a run had no successful return")


if __name__ == "__main__":
    main()
