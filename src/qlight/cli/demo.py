"""``qlight demo``: find a single-photon emitter and measure its g2, end to end.

What ``make run`` runs until the device service exists. Control-code style: it builds the
instruments through the composition root (:func:`qlight.device.factory.build_instruments`)
and uses only the instrument protocols, never ground truth:

1. confocal scan (PL + reflection) around the stage origin → ``scan.png``, ``scan.npz``;
2. spot finding on the image (:func:`qlight.cli._confocal.find_spots`) and choice of the
   brightest diffraction-limited spot;
3. move there, focus by a z sweep of count-rate readings (parabolic refinement);
4. HBT acquisition → ``hbt.h5`` (Photon-HDF5);
5. g2(τ) with :func:`qlight.timetags.g2.g2_cw` → ``g2.png``; ``summary.json`` with
   everything measured and where it is.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, print_json, progress
from qlight.errors import ParameterError

__all__ = ["demo", "demo_app"]

#: ``qlight demo`` runs the demonstration; ``qlight demo powercycle`` is the evaluation harness.
demo_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Demonstrations on the twin: `qlight demo --out DIR`, `qlight demo powercycle`.",
)

#: z sweep of the focus search, relative to the scan z: −1.0 … +1.4 µm in 0.2 µm steps.
_Z_STEPS_UM = tuple(round(-1.0 + 0.2 * k, 6) for k in range(13))
#: Count-rate integration per z step, s.
_Z_DWELL_S = 0.1
#: g2 histogram: ±200 ns window (beyond the shelving bunching), 250 ps bins; g2(0) pooled
#: over the two bins around 0.
_G2_WINDOW_PS = 200_000
_G2_BIN_PS = 250
_G2_HALF_WIDTH_PS = 250


def _prepare_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ParameterError("--out", str(out), "exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError("--out", str(out), f"cannot be created: {exc.strerror}") from None
    probe = out / ".qlight-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        raise ParameterError("--out", str(out), "is not writable") from None
    return out


def _parabola_peak(z: list[float], r: list[float]) -> float:
    """Vertex of the parabola through the maximum and its neighbours (the maximum at an end)."""
    k = max(range(len(r)), key=lambda i: r[i])
    if k == 0 or k == len(r) - 1:
        return z[k]
    denom = r[k - 1] - 2 * r[k] + r[k + 1]
    if denom >= 0.0:
        return z[k]
    h = z[k + 1] - z[k]
    return z[k] + 0.5 * h * (r[k - 1] - r[k + 1]) / denom


def demo(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the results (created; required).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the twin.")] = 0,
    preset: Annotated[
        str, typer.Option("--preset", help="visible | telecom | telecom-ingaas.")
    ] = "visible",
    duration: Annotated[
        float, typer.Option("--duration", help="HBT acquisition, simulated seconds.")
    ] = 5.0,
    power_mw: Annotated[float, typer.Option("--power-mw", help="Laser power (mW).")] = 1.0,
    size_um: Annotated[float, typer.Option("--size-um", help="Scan width = height (µm).")] = 20.0,
    step_nm: Annotated[float, typer.Option("--step-nm", help="Scan pixel pitch (nm).")] = 100.0,
    dwell_ms: Annotated[float, typer.Option("--dwell-ms", help="Scan dwell (ms).")] = 1.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Scan, pick the brightest diffraction-limited spot, measure its g2, write the results."""
    if ctx.invoked_subcommand is not None:
        return
    wall0 = time.perf_counter()
    with cli_errors():
        if out is None:
            raise ParameterError("--out", None, "is required: the folder for the results")
        from qlight._validation import check_positive
        from qlight.cli import _confocal as conf

        req = conf.scan_request(
            seed=seed, preset=preset, size_um=size_um, step_nm=step_nm, dwell_ms=dwell_ms,
            power_mw=power_mw, x_um=0.0, y_um=0.0, z_um=0.3,
        )  # fmt: skip
        if check_positive("--duration", duration) > 3600.0:
            raise ParameterError("--duration", duration, "must be <= 3600 s")
        folder = _prepare_dir(out)
        result = _run(folder, req, duration, json_output)
    result["wall_time_s"] = time.perf_counter() - wall0
    (folder / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    if json_output:
        print_json(result)
        return
    spot = result["spot"]
    rows = {
        "preset, seed": f"{result['preset']}, {result['seed']}",
        "spots in the scan": str(result["spots_found"]),
        "chosen spot (stage µm)": (
            f"x {spot['x_m'] * 1e6:.3f}, y {spot['y_m'] * 1e6:.3f}, z {spot['z_m'] * 1e6:.3f}"
        ),
        "spot FWHM": f"{spot['fwhm_m'] * 1e9:.0f} nm",
        "count rate": " + ".join(f"{r * 1e-3:.1f}" for r in result["rates_per_s"]) + " kcps",
        "g2(0)": f"{result['g2_0']:.3f} ± {result['g2_0_err']:.3f}",
        "single emitter (g2(0) + 2σ < 0.5)": "yes" if result["single_emitter"] else "no",
        "simulated time": f"{result['simulated_time_s']:.1f} s",
        "wall time": f"{result['wall_time_s']:.1f} s",
    }
    table = Table(title="qlight demo (digital twin)", show_header=False)
    for key, value in rows.items():
        table.add_row(key, value)
    console = Console()
    console.print(table)
    console.print(f"Results in {folder}: " + ", ".join(sorted(result["files"].values())))


def _run(folder: Path, req: Any, duration_s: float, quiet: bool) -> dict[str, Any]:
    from qlight.cli import _confocal as conf
    from qlight.device.config import TwinConfig
    from qlight.device.factory import build_instruments
    from qlight.timetags.g2 import g2_at_zero, g2_cw
    from qlight.timetags.photon_hdf5 import write_photon_hdf5

    ins = build_instruments(TwinConfig(seed=req.seed, preset=req.preset))
    n_lines = max(1, round(req.size_m / req.step_m))
    with progress("1/3 confocal scan", n_lines, enabled=not quiet) as advance:
        image = conf.run_scan(ins, req, advance)
    files = {
        "scan_png": str(folder / "scan.png"),
        "scan_npz": str(folder / "scan.npz"),
        "g2_png": str(folder / "g2.png"),
        "photon_hdf5": str(folder / "hbt.h5"),
        "summary": str(folder / "summary.json"),
    }
    meta = {"command": "qlight demo", "seed": req.seed, "preset": req.preset}
    conf.save_scan_npz(image, Path(files["scan_npz"]), {**meta, **conf.scan_summary(image)})
    conf.save_scan_png(image, Path(files["scan_png"]), f"qlight demo, seed {req.seed}")
    spots = conf.find_spots(image, ins.scanner.psf_fwhm_m)
    chosen = next((s for s in spots if s.diffraction_limited), None)
    if chosen is None:
        Console(stderr=True).print(
            f"no diffraction-limited spot in the scan ({len(spots)} extended spots); "
            f"scan written to {files['scan_png']}"
        )
        raise typer.Exit(1)
    z_rates: list[float] = []
    z_grid = [req.z_m + dz * 1e-6 for dz in _Z_STEPS_UM]
    with progress("2/3 focus", len(z_grid), enabled=not quiet) as advance:
        for z in z_grid:
            ins.stage.move_to(chosen.x_m, chosen.y_m, z)
            z_rates.append(ins.tagger.count_rates(_Z_DWELL_S).total_rate_per_s)
            advance(1)
    z_best = _parabola_peak(z_grid, z_rates)
    ins.stage.move_to(chosen.x_m, chosen.y_m, z_best)
    n_chunks = max(1, math.ceil(duration_s / 1.0))
    with progress("3/3 HBT acquisition", n_chunks, enabled=not quiet) as advance:
        tags = ins.tagger.acquire(duration_s, progress=lambda d, t: advance(n_chunks / t))
    hist = g2_cw(
        tags.t_ps[0], tags.t_ps[1], window_ps=_G2_WINDOW_PS, bin_ps=_G2_BIN_PS,
        duration_ps=tags.duration_ps,
    )  # fmt: skip
    g0, g0_err = g2_at_zero(hist, half_width_ps=_G2_HALF_WIDTH_PS)
    spot = {**chosen.as_dict(), "z_m": z_best}
    write_photon_hdf5(
        files["photon_hdf5"], tags.t_ps, duration_ps=tags.duration_ps,
        description="qlight demo: HBT on the brightest diffraction-limited spot (digital twin)",
        parameters={**meta, "spot": spot, "power_w": ins.laser.power_w},
        excitation_wavelength_m=ins.laser.wavelength_nm * 1e-9,
        excitation_power_w=ins.laser.power_w,
    )  # fmt: skip
    conf.save_g2_png(
        hist, g0, g0_err, Path(files["g2_png"]),
        f"HBT at ({chosen.x_m * 1e6:.2f}, {chosen.y_m * 1e6:.2f}) µm, {duration_s:g} s",
    )  # fmt: skip
    return {
        **meta,
        "files": files,
        "scan": conf.scan_summary(image),
        "spots_found": len(spots),
        "spot": spot,
        "focus_sweep": {"z_m": z_grid, "rate_per_s": z_rates},
        "counts": list(tags.counts),
        "rates_per_s": list(tags.rates_per_s),
        "duration_s": tags.duration_ps * 1e-12,
        "g2_0": g0,
        "g2_0_err": g0_err,
        "single_emitter": bool(g0 + 2.0 * g0_err < 0.5),
        "simulated_time_s": ins.clock.now_s(),
    }
