"""``qlight demo powercycle``: the power-cycle evaluation harness (reads the twin's truth).

The only mapping-side code allowed to read ground truth: it builds the twin with
:func:`qlight.device.factory.build_twin`, runs the control code (which sees only the
instrument protocols) and grades it with the :class:`TwinTruth`.

First boot: surface focus by reflection, a mark scan and a marks registration, a PL scan of
30 µm × 30 µm at the chip centre, detection + Poisson MLE (engineer HI's
``detect_and_localize``), the target = the brightest accepted point-like emitter that HI's
``qualify_here`` calls single by g2(0), stored in the chip frame with its depth below the
surface. Then per cycle: power cycle, laser on, coarse + fine surface focus, a 50 µm mark
scan, :func:`qlight.mapping.registration.register` with the last transform as prior,
prediction of the target and HI's ``refocus`` (fine scan, MLE, z sweep) there; the photons
start when the refocus ends. Graded: same emitter (the truth's nearest emitter to the final
position is the target's), position error, simulated time since power-on, compute time of the
control code (wall time minus nothing: the twin's rendering runs inside the scans, so this is
an upper bound).

Options map onto the twin: ``--max-shift-um X`` → unreferenced homing with a translation
error log-uniform in [1 µm, X]; ``--max-rotation-deg R`` → homing rotation N(0, (R/3)²)
(R is its 3σ). ``--turnover`` (emitters bleaching/appearing between cycles) needs a twin hook
that does not exist yet: only 0 is accepted.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

import numpy as np
import typer

from qlight.cli._output import cli_errors, print_json
from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_twin
from qlight.errors import ParameterError
from qlight.mapping.detect import detect_and_localize
from qlight.mapping.fiducials import find_marks, focus_surface, mark_scan_window
from qlight.mapping.qualify import qualify_here
from qlight.mapping.refocus import refocus
from qlight.mapping.registration import (
    ConstellationConfig,
    Registration,
    RegistrationFailed,
    register,
)
from qlight.mapping.similarity import Similarity2D
from qlight.physics.marks import MarkLayout

__all__ = ["demo_powercycle", "run_powercycles"]

_POWER_W = 1e-3
_LAYOUT = MarkLayout()

#: Brightest spots tried, in order, for a first-boot target that qualifies as single.
_MAX_CANDIDATES = 8


def _surface(ins: Instruments, z_center_m: float) -> float:
    lo, hi = ins.stage.travel_range_m[2]
    z0 = min(max(z_center_m, lo + 22e-6), hi - 22e-6)  # keep the coarse sweep in travel
    zc = focus_surface(ins.scanner, 0.0, 0.0, z0, span_m=44e-6, n_steps=45)
    zc = min(max(zc, lo + 1.5e-6), hi - 1.5e-6)
    return focus_surface(ins.scanner, 0.0, 0.0, zc, span_m=3e-6, n_steps=31)


def _register(
    ins: Instruments,
    prior: Similarity2D,
    z_m: float,
    size: tuple[float, float],
    config: ConstellationConfig,
) -> Registration:
    x, y, w = mark_scan_window(prior, _LAYOUT)
    img = ins.scanner.raster_scan(x, y, 2 * w, 2 * w, 0.15e-6, 5e-5, z_m=z_m)
    marks = find_marks(img, _LAYOUT, *size)
    return register(marks, prior=prior, config=config)


def run_powercycles(
    cycles: int,
    seed: int,
    *,
    max_shift_um: float | None = None,
    max_rotation_deg: float | None = None,
) -> dict[str, Any]:
    """Run first boot plus ``cycles`` power cycles; return the issue's JSON shape."""
    stage: dict[str, Any] = {}
    if max_shift_um is not None:
        if not max_shift_um > 1.0:
            raise ParameterError("max_shift_um", max_shift_um, "must be > 1")
        stage["referenced_homing"] = False
        stage["homing_error_unreferenced_m"] = (1e-6, max_shift_um * 1e-6)
    if max_rotation_deg is not None:
        if not max_rotation_deg > 0.0:
            raise ParameterError("max_rotation_deg", max_rotation_deg, "must be > 0")
        stage["homing_rotation_sd_rad"] = math.radians(max_rotation_deg) / 3.0
    # the registration's prior bounds: the options' worst case with margin (rotation: 5σ)
    bounds = ConstellationConfig(
        max_shift_m=max(60e-6, 1.2e-6 * (max_shift_um or 0.0)),
        max_rotation_rad=max(math.radians(3.5), 5.0 / 3.0 * math.radians(max_rotation_deg or 0.0)),
    )
    ins, truth = build_twin(TwinConfig(seed=seed, stage=stage))
    cfg = truth.chip.config
    size = (cfg.size_x_m, cfg.size_y_m)
    ins.laser.set_power(_POWER_W)
    ins.laser.on()
    # ---- first boot
    z_surf = _surface(ins, 0.0)
    reg = _register(ins, Similarity2D.identity(), z_surf, size, bounds)
    psf_sigma_m = ins.scanner.psf_fwhm_m / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    pl = ins.scanner.raster_scan(0.0, 0.0, 30e-6, 30e-6, 0.1e-6, 1e-3, z_m=z_surf + 0.3e-6)
    det = detect_and_localize(pl.pl_counts, pl.x_m, pl.y_m, psf_sigma_m=psf_sigma_m)
    if not det.accepted:
        raise RegistrationFailed("first boot found no point-like emitter")
    # target: the brightest point-like spot that refocuses and qualifies as ONE emitter by
    # g2(0) (an unresolved pair would be returned to at its centroid, tens of nm off either)
    first = None
    reasons = []
    for cand in sorted(det.accepted, key=lambda d: -d.localization.photons)[:_MAX_CANDIDATES]:
        res = refocus(
            ins.stage, ins.scanner, ins.tagger, cand.localization.x_m, cand.localization.y_m,
            z_surf + 0.3e-6,
        )  # fmt: skip
        if not res.ok:
            reasons.append(f"refocus: {res.reason}")
            continue
        verdict = qualify_here(ins.tagger, ins.spectrometer)
        if verdict.single:
            first = res
            break
        reasons.append(f"not single: {verdict.reason}")
    if first is None:
        raise RegistrationFailed(
            "first boot found no qualified single emitter among the brightest "
            f"{_MAX_CANDIDATES} spots ({'; '.join(reasons)})"
        )
    xc, yc = reg.transform.apply_inverse(first.x_m, first.y_m)
    target_chip = (float(xc), float(yc))
    depth_stage_m = first.z_m - z_surf
    a = truth.chip.arrays
    target_index = int(np.argmin(np.hypot(a.x_m - target_chip[0], a.y_m - target_chip[1])))
    crlb = []
    if first.localization is not None:
        crlb.append(math.hypot(first.localization.crlb_x_m, first.localization.crlb_y_m))
    prior = reg.transform
    rows = []
    for _ in range(cycles):
        ins.power.power_cycle()
        t_on = ins.clock.now_s()
        wall = time.perf_counter()
        ins.laser.set_power(_POWER_W)
        ins.laser.on()
        row: dict[str, Any] = {"target_id": f"E-{target_index}"}
        try:
            z_surf = _surface(ins, z_surf)
            reg = _register(ins, prior, z_surf, size, bounds)
            xp, yp = reg.transform.apply(*target_chip)
            res = refocus(
                ins.stage, ins.scanner, ins.tagger, float(xp), float(yp), z_surf + depth_stage_m
            )
            ok = res.ok
        except (RegistrationFailed, ParameterError):
            # no registration, or the surface/target beyond the stage travel: a failed return
            ok = False
        row["compute_s"] = time.perf_counter() - wall
        row["sim_time_to_photons_s"] = ins.clock.now_s() - t_on
        if ok:
            prior = reg.transform
            fx, fy = truth.stage_to_chip(res.x_m, res.y_m)
            reached = int(np.argmin(np.hypot(a.x_m - float(fx), a.y_m - float(fy))))
            tx, ty = truth.chip_to_stage(a.x_m[target_index], a.y_m[target_index])
            row["same_emitter"] = bool(
                reached == target_index or target_index in truth.cluster_members(reached)
            )
            row["error_nm"] = 1e9 * math.hypot(res.x_m - float(tx), res.y_m - float(ty))
            if res.localization is not None:
                crlb.append(math.hypot(res.localization.crlb_x_m, res.localization.crlb_y_m))
        else:
            row["same_emitter"] = False
            row["error_nm"] = math.nan
        rows.append(row)
    err = np.array([r["error_nm"] for r in rows], dtype=np.float64)
    fin = err[np.isfinite(err)]
    return {
        "cycles": rows,
        "summary": {
            "success_rate": float(np.mean([r["same_emitter"] for r in rows])) if rows else 0.0,
            "median_error_nm": float(np.median(fin)) if fin.size else math.nan,
            "p95_error_nm": float(np.percentile(fin, 95)) if fin.size else math.nan,
            "crlb_nm": 1e9 * float(np.median(crlb)) if crlb else math.nan,
            "median_sim_time_to_photons_s": float(
                np.median([r["sim_time_to_photons_s"] for r in rows])
            )
            if rows
            else math.nan,
        },
    }


def demo_powercycle(
    cycles: Annotated[int, typer.Option("--cycles", help="Number of power cycles.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Twin seed.")] = 0,
    max_shift_um: Annotated[
        float | None, typer.Option("--max-shift-um", help="Largest homing shift (µm).")
    ] = None,
    max_rotation_deg: Annotated[
        float | None, typer.Option("--max-rotation-deg", help="3σ homing rotation (degrees).")
    ] = None,
    turnover: Annotated[
        float, typer.Option("--turnover", help="Emitter turnover per cycle (only 0 so far).")
    ] = 0.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Return to the same emitter after N simulated power cycles and grade it with the truth."""
    with cli_errors():
        if cycles < 1:
            raise ParameterError("cycles", cycles, "must be >= 1")
        if turnover != 0.0:
            raise ParameterError("turnover", turnover, "needs a twin turnover hook: only 0 now")
        out = run_powercycles(
            cycles, seed, max_shift_um=max_shift_um, max_rotation_deg=max_rotation_deg
        )
        if json_out:
            print_json(out)
        else:
            for i, r in enumerate(out["cycles"]):
                typer.echo(
                    f"cycle {i}: {r['target_id']} same={r['same_emitter']} "
                    f"error={r['error_nm']:.1f} nm t={r['sim_time_to_photons_s']:.1f} s "
                    f"compute={r['compute_s']:.2f} s"
                )
            typer.echo(f"summary: {out['summary']}")
