"""``qlight demo powercycle``: the power-cycle evaluation harness (reads the twin's truth).

The only mapping-side code allowed to read ground truth: it builds the twin with
:func:`qlight.device.factory.build_twin`, runs the control code
(:class:`~qlight.cli._powercycle_control.PowerCycleController`, which sees only the
instrument protocols) and grades it with the :class:`TwinTruth`.

First boot: surface focus by reflection, a mark scan and a marks registration, a PL scan of
30 µm × 30 µm at the chip centre, detection + Poisson MLE, the brightest spots refocused and
qualified by a sequential g2(0) (a proper interval, at mapping time); the target = the
brightest single one, the other qualified ones the candidates. Then per cycle: power cycle,
laser on, and :func:`qlight.mapping.autoreturn.auto_return` — the device's own control flow —
with surface search, registration, return to the target with identity verification, or —
when the target is gone — a switch to the next-best candidate (see the controller's
docstring).

Grading per cycle (truth): the target is the physical emitter (its uid, which survives
slot reuse by turnover) adopted last. ``returned`` is correct iff the target is alive and
the emitter nearest to the final position is it (or a member of its unresolved cluster).
``switched`` is correct iff the target truly bleached (permanent turnover or its photon
budget) and the final position is on a live emitter within 100 nm of it that is the one
nearest to the candidate the control code chose; that emitter becomes the target. A
``failed`` cycle is never correct. ``error_nm`` is the final position's distance to the
graded emitter; simulated time runs from power-on to the end of the last refocus (and the
g2(0) qualification when switching to a spot found by a refill scan); compute time is the
process CPU time of the control code (not wall time, which on a shared machine measures
the other jobs too; it includes the twin's rendering inside the scans, so an upper bound).
After both are recorded the controller's top-up runs (``--no-top-up`` skips it): it keeps
the qualified candidates fresh with emission paused, reported as ``sim_topup_s``.

Options map onto the twin: ``--max-shift-um X`` → unreferenced homing with a translation
error log-uniform in [1 µm, X]; ``--max-rotation-deg R`` → homing rotation N(0, (R/3)²)
(R is its 3σ); ``--turnover F`` → per power cycle every live emitter bleaches for good with
probability F and as many new ones appear (:mod:`qlight.physics.turnover`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import numpy as np
import typer
from numpy.typing import ArrayLike, NDArray

from qlight.cli._output import cli_errors, print_json, progress
from qlight.cli._powercycle_control import Candidate, CycleOutcome, PowerCycleController
from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.mapping.registration import ConstellationConfig

__all__ = ["demo_powercycle", "run_powercycles"]

#: A switch counts as correct only if the final position is this close to a live emitter.
_SWITCH_TOLERANCE_M = 100e-9


class TwinTruth(Protocol):
    """What the grading reads of :class:`qlight.instruments.sim.truth.TwinTruth` (a
    protocol, so that only :func:`build_twin` links this module to the twin backend)."""

    @property
    def chip(self) -> Any: ...

    def chip_to_stage(self, x_m: ArrayLike, y_m: ArrayLike) -> tuple[Any, Any]: ...

    def stage_to_chip(self, x_m: ArrayLike, y_m: ArrayLike) -> tuple[Any, Any]: ...

    def emitter_uids(self) -> NDArray[np.int64]: ...

    def emitter_alive(self, uid: int) -> bool: ...

    def cluster_members(self, index: int) -> tuple[int, ...]: ...

    def bleached(self) -> NDArray[np.bool_]: ...


def _nearest(truth: TwinTruth, x_stage_m: float, y_stage_m: float) -> tuple[int, float]:
    """Slot of the emitter nearest to a stage position now, and its chip-frame distance."""
    a = truth.chip.arrays
    fx, fy = truth.stage_to_chip(x_stage_m, y_stage_m)
    d = np.hypot(a.x_m - float(fx), a.y_m - float(fy))
    k = int(np.argmin(d))
    return k, float(d[k])


def _grade(
    truth: TwinTruth, target_uid: int, out: CycleOutcome, chosen: Candidate | None
) -> tuple[bool, int, float]:
    """``(correct, uid of the target afterwards, error_nm)`` of one cycle (see docstring).

    ``chosen``: the control code's target after the cycle (the candidate a switch chose).
    """
    res = out.result
    if out.outcome == "failed" or res is None:
        return False, target_uid, math.nan
    uids = truth.emitter_uids()
    a = truth.chip.arrays
    slot, _ = _nearest(truth, res.x_m, res.y_m)
    if out.outcome == "returned":
        slots = np.flatnonzero(uids == target_uid)
        if not truth.emitter_alive(target_uid):  # a false return: follow what it tracks now
            return False, int(uids[slot]), math.nan
        t = int(slots[0])
        tx, ty = truth.chip_to_stage(a.x_m[t], a.y_m[t])
        err = 1e9 * math.hypot(res.x_m - float(tx), res.y_m - float(ty))
        same = slot == t or t in truth.cluster_members(slot)
        return bool(same), target_uid if same else int(uids[slot]), err
    # switched: right only if the old target is truly gone and the new one is the candidate
    new_uid = int(uids[slot])
    sx, sy = truth.chip_to_stage(a.x_m[slot], a.y_m[slot])
    err = 1e9 * math.hypot(res.x_m - float(sx), res.y_m - float(sy))
    assert chosen is not None
    cand_slot = int(np.argmin(np.hypot(a.x_m - chosen.x_chip_m, a.y_m - chosen.y_chip_m)))
    bleached = truth.bleached()
    live_members = [m for m in truth.cluster_members(slot) if not bleached[m]]
    ok = (
        not truth.emitter_alive(target_uid)
        and truth.emitter_alive(new_uid)
        and len(live_members) <= 1
        and err <= 1e9 * _SWITCH_TOLERANCE_M
        and cand_slot == slot
    )
    return bool(ok), new_uid, err


def run_powercycles(
    cycles: int,
    seed: int,
    *,
    max_shift_um: float | None = None,
    max_rotation_deg: float | None = None,
    turnover: float = 0.0,
    controller: type[PowerCycleController] = PowerCycleController,
    top_up: bool = True,
    on_cycle: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run first boot plus ``cycles`` power cycles; return the issue's JSON shape.

    ``controller`` is the control code under test (a subclass replays other strategies,
    e.g. the benchmark's peer). ``top_up``: after each cycle's photons (time and compute
    already recorded), call :meth:`PowerCycleController.top_up` to keep the qualified
    candidate list fresh; its simulated time (emission paused) and CPU time are reported
    per cycle as ``sim_topup_s`` and ``topup_compute_s``, not as time to photons.
    ``on_cycle`` is called after each cycle (progress).

    Beyond the issue's keys each cycle has ``outcome`` (returned/switched/failed),
    ``target_gone`` (truth: the target bleached since the last cycle), ``reason``,
    ``sim_topup_s`` and ``topup_compute_s``; the summary adds ``n_target_gone``,
    ``n_switched``, ``n_failed``, ``p95_sim_time_to_photons_s``, ``median_compute_s``,
    ``max_compute_s`` and ``median_sim_topup_s``.
    """
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
    if not 0.0 <= turnover < 1.0:
        raise ParameterError("turnover", turnover, "must be in [0, 1)")
    if turnover > 0.0:
        stage["emitter_turnover"] = turnover
    # the registration's prior bounds: the options' worst case with margin (rotation: 5σ)
    bounds = ConstellationConfig(
        max_shift_m=max(60e-6, 1.2e-6 * (max_shift_um or 0.0)),
        max_rotation_rad=max(math.radians(3.5), 5.0 / 3.0 * math.radians(max_rotation_deg or 0.0)),
    )
    ins, truth = build_twin(TwinConfig(seed=seed, stage=stage))
    cfg = truth.chip.config
    ctl = controller(ins, (cfg.size_x_m, cfg.size_y_m), bounds)
    first = ctl.first_boot()
    target_uid = int(truth.emitter_uids()[_nearest(truth, first.x_m, first.y_m)[0]])
    rows = []
    for _ in range(cycles):
        ins.power.power_cycle()
        t_on = ins.clock.now_s()
        gone = not truth.emitter_alive(target_uid)
        cpu = time.process_time()
        out = ctl.cycle()
        compute = time.process_time() - cpu
        t_photons = ins.clock.now_s() - t_on
        correct, new_uid, err = _grade(truth, target_uid, out, ctl.target)
        t_top, cpu_top = ins.clock.now_s(), time.process_time()
        if top_up and out.outcome != "failed":
            ctl.top_up()
        rows.append(
            {
                "target_id": f"E-{target_uid}",
                "same_emitter": correct,
                "error_nm": err,
                "sim_time_to_photons_s": t_photons,
                "compute_s": compute,
                "outcome": out.outcome,
                "target_gone": gone,
                "reason": out.reason,
                "sim_topup_s": ins.clock.now_s() - t_top,
                "topup_compute_s": time.process_time() - cpu_top,
            }
        )
        target_uid = new_uid  # after a wrong outcome, grade later cycles on what it tracks
        if on_cycle is not None:
            on_cycle()
    errs = np.array([r["error_nm"] for r in rows], dtype=np.float64)
    fin = errs[np.isfinite(errs)]
    t_ph = np.array([r["sim_time_to_photons_s"] for r in rows], dtype=np.float64)
    return {
        "cycles": rows,
        "summary": {
            "success_rate": float(np.mean([r["same_emitter"] for r in rows])) if rows else 0.0,
            "median_error_nm": float(np.median(fin)) if fin.size else math.nan,
            "p95_error_nm": float(np.percentile(fin, 95)) if fin.size else math.nan,
            "crlb_nm": 1e9 * float(np.median(ctl.crlb_m)) if ctl.crlb_m else math.nan,
            "median_sim_time_to_photons_s": float(np.median(t_ph)) if rows else math.nan,
            "p95_sim_time_to_photons_s": float(np.percentile(t_ph, 95)) if rows else math.nan,
            "median_compute_s": float(np.median([r["compute_s"] for r in rows]))
            if rows
            else math.nan,
            "max_compute_s": float(np.max([r["compute_s"] for r in rows])) if rows else math.nan,
            "median_sim_topup_s": float(np.median([r["sim_topup_s"] for r in rows]))
            if rows
            else math.nan,
            "n_target_gone": sum(r["target_gone"] for r in rows),
            "n_switched": sum(r["outcome"] == "switched" for r in rows),
            "n_failed": sum(r["outcome"] == "failed" for r in rows),
        },
    }


def _summary_line(s: dict[str, Any]) -> str:
    """The run's summary as one labelled line with units."""
    return (
        f"same emitter {s['success_rate']:.1%}; error median {s['median_error_nm']:.2f} nm, "
        f"p95 {s['p95_error_nm']:.2f} nm (CRLB {s['crlb_nm']:.2f} nm); time to photons "
        f"(simulated) median {s['median_sim_time_to_photons_s']:.1f} s, p95 "
        f"{s['p95_sim_time_to_photons_s']:.1f} s; compute median {s['median_compute_s']:.2f} s, "
        f"max {s['max_compute_s']:.2f} s; top-up median {s['median_sim_topup_s']:.1f} s; "
        f"targets gone {s['n_target_gone']}, switched {s['n_switched']}, "
        f"failed {s['n_failed']}"
    )


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
        float,
        typer.Option("--turnover", help="Fraction of emitters bleaching/appearing per cycle."),
    ] = 0.0,
    top_up: Annotated[
        bool,
        typer.Option(
            "--top-up/--no-top-up",
            help="Re-qualify candidates after each cycle's photons (emission paused).",
        ),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Return to the same emitter after N simulated power cycles and grade it with the truth."""
    with cli_errors():
        if cycles < 1:
            raise ParameterError("cycles", cycles, "must be >= 1")
        with progress("power cycles", cycles, enabled=not json_out) as advance:
            out = run_powercycles(
                cycles,
                seed,
                max_shift_um=max_shift_um,
                max_rotation_deg=max_rotation_deg,
                turnover=turnover,
                top_up=top_up,
                on_cycle=lambda: advance(1),
            )
        if json_out:
            print_json(out)
        else:
            for i, r in enumerate(out["cycles"]):
                typer.echo(
                    f"cycle {i}: {r['target_id']} {r['outcome']} correct={r['same_emitter']} "
                    f"error={r['error_nm']:.1f} nm t={r['sim_time_to_photons_s']:.1f} s "
                    f"compute={r['compute_s']:.2f} s"
                )
            typer.echo(_summary_line(out["summary"]))
