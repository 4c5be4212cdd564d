"""``qlight simulate …``: generate data with the digital twin.

The twin's own tool: it builds the simulated world (chip, emitters) and records which
parameters it used, so it is allowed to see ground truth; it is the documented exception of
the ground-truth import contract (``docs/architecture.md``).

Commands:

* ``hbt`` — a Hanbury Brown–Twiss acquisition written as Photon-HDF5 (this module);
* ``scan`` — added by a later issue below the marked place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._hbt_options import HBTOptions, check_output_path, validate_options
from qlight.cli._output import cli_errors, print_json, progress

if TYPE_CHECKING:
    from qlight.cli._simulate_hbt import HBTSummary

__all__ = ["simulate_app"]

simulate_app = typer.Typer(
    name="simulate",
    help="Generate simulated measurements with the digital twin (writes files, shows truth).",
    no_args_is_help=True,
)

_MODEL = "Emitter model (per ns; any of them switches from the chip emitter to these rates)"
_SETUP = "Detection setup"


def _fmt(value: float, err: float | None = None, unit: str = "") -> str:
    if value != value:  # NaN
        return "n/a"
    text = f"{value:.4g}" if err is None or err != err else f"{value:.4g} ± {err:.2g}"
    return f"{text} {unit}".strip()


def _print_summary(parameters: dict[str, Any], summary: HBTSummary) -> None:
    console = Console()
    params = Table(title="Parameters used", show_header=False)
    for key, value in parameters.items():
        params.add_row(key, str(value))
    console.print(params)
    res = Table(title="HBT acquisition")
    res.add_column("quantity")
    res.add_column("value", justify="right")
    for k in (0, 1):
        res.add_row(f"counts, detector {k}", f"{summary.counts[k]}")
        res.add_row(
            f"rate, detector {k}", _fmt(summary.rates_cps[k], summary.rates_err_cps[k], "cps")
        )
    res.add_row("g2(0)", _fmt(summary.g2_0, summary.g2_0_err))
    res.add_row("g2(0) method", summary.g2_method)
    res.add_row("file", str(summary.path))
    console.print(res)


@simulate_app.command("hbt")
def hbt(
    out: Annotated[Path, typer.Option("--out", help="Photon-HDF5 file to write.")],
    duration: Annotated[float, typer.Option("--duration", help="Acquisition time in seconds.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the twin (chip and photons).")],
    k12: Annotated[
        float | None,
        typer.Option("--k12", help="Pump rate at the operating power.", rich_help_panel=_MODEL),
    ] = None,
    k21: Annotated[
        float | None,
        typer.Option("--k21", help="Decay rate 2→1 (default 0.5).", rich_help_panel=_MODEL),
    ] = None,
    k23: Annotated[
        float | None,
        typer.Option("--k23", help="Shelving rate 2→3 (default 0.01).", rich_help_panel=_MODEL),
    ] = None,
    k31: Annotated[
        float | None,
        typer.Option("--k31", help="Relaxation 3→1 (default 0.005).", rich_help_panel=_MODEL),
    ] = None,
    qe: Annotated[
        float | None,
        typer.Option("--qe", help="Radiative fraction of k21 (default 1).", rich_help_panel=_MODEL),
    ] = None,
    no_blinking: Annotated[
        bool, typer.Option("--no-blinking", help="Switch blinking off.", rich_help_panel=_MODEL)
    ] = False,
    eta: Annotated[
        float | None,
        typer.Option(
            "--eta",
            help="Probability that an emitted photon is detected (by one of the two detectors).",
            rich_help_panel=_SETUP,
        ),
    ] = None,
    background_cps: Annotated[
        float | None,
        typer.Option(
            "--background-cps", help="Background per detector (1/s).", rich_help_panel=_SETUP
        ),
    ] = None,
    dark_cps: Annotated[
        float | None,
        typer.Option("--dark-cps", help="Dark counts per detector (1/s).", rich_help_panel=_SETUP),
    ] = None,
    dead_time_ns: Annotated[
        float | None,
        typer.Option("--dead-time-ns", help="Detector dead time (ns).", rich_help_panel=_SETUP),
    ] = None,
    jitter_ps: Annotated[
        float | None,
        typer.Option("--jitter-ps", help="Detector jitter FWHM (ps).", rich_help_panel=_SETUP),
    ] = None,
    afterpulse_prob: Annotated[
        float | None,
        typer.Option("--afterpulse-prob", help="Afterpulse probability.", rich_help_panel=_SETUP),
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="visible | telecom | telecom-ingaas.")
    ] = "visible",
    power_mw: Annotated[
        float | None, typer.Option("--power-mw", help="Laser power in mW (default 1).")
    ] = None,
    rep_rate_mhz: Annotated[
        float | None,
        typer.Option("--rep-rate-mhz", help="Pulsed excitation at this repetition rate (MHz)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Simulate an HBT measurement and write the time tags as Photon-HDF5."""
    options = HBTOptions(
        out=out,
        duration_s=duration,
        seed=seed,
        k12=k12,
        k21=k21,
        k23=k23,
        k31=k31,
        eta=eta,
        background_cps=background_cps,
        dark_cps=dark_cps,
        dead_time_ns=dead_time_ns,
        jitter_ps=jitter_ps,
        afterpulse_prob=afterpulse_prob,
        qe=qe,
        no_blinking=no_blinking,
        preset=preset,
        power_mw=power_mw,
        rep_rate_mhz=rep_rate_mhz,
    )
    with cli_errors():
        validate_options(options)
        check_output_path(out)
        # Imported only now so that help and bad input never wait for the twin to load.
        from qlight.cli import _simulate_hbt as impl

        run = impl.build_run(options)
        rng = np.random.default_rng(seed)
        with progress("simulating", impl.n_blocks(run), enabled=not json_output) as advance:
            t_ps, emitted = impl.run_hbt(run, rng, advance)
        path = impl.write_run(run, out, t_ps)
        summary = impl.summarize(path)
    if json_output:
        print_json({"parameters": run.parameters, "emitted_photons": emitted, **summary.as_dict()})
    else:
        _print_summary({**run.parameters, "emitted_photons": emitted}, summary)


# ---------------------------------------------------------------- `qlight simulate scan`
# (engineer H4) A confocal scan of the twin through the composition root: the instruments
# are built by qlight.device.factory and driven through their protocols only.


@simulate_app.command("scan")
def scan(
    out: Annotated[
        Path, typer.Option("--out", help="Output: FILE.png (image) and FILE.npz (data).")
    ],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the twin.")],
    preset: Annotated[
        str, typer.Option("--preset", help="visible | telecom | telecom-ingaas.")
    ] = "visible",
    size_um: Annotated[float, typer.Option("--size-um", help="Scan width = height (µm).")] = 40.0,
    step_nm: Annotated[float, typer.Option("--step-nm", help="Pixel pitch (nm).")] = 200.0,
    dwell_ms: Annotated[float, typer.Option("--dwell-ms", help="Dwell per pixel (ms).")] = 1.0,
    power_mw: Annotated[float, typer.Option("--power-mw", help="Laser power (mW).")] = 1.0,
    x_um: Annotated[float, typer.Option("--x-um", help="Scan centre, stage x (µm).")] = 0.0,
    y_um: Annotated[float, typer.Option("--y-um", help="Scan centre, stage y (µm).")] = 0.0,
    z_um: Annotated[float, typer.Option("--z-um", help="Stage z (focus) (µm).")] = 0.3,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Raster-scan the twin's chip and write the PL/reflection image (PNG) and data (npz)."""
    import time

    with cli_errors():
        from qlight.cli import _confocal as conf

        req = conf.scan_request(
            seed=seed, preset=preset, size_um=size_um, step_nm=step_nm, dwell_ms=dwell_ms,
            power_mw=power_mw, x_um=x_um, y_um=y_um, z_um=z_um,
        )  # fmt: skip
        png, npz = conf.scan_output_paths(out)
        check_output_path(png)
        check_output_path(npz)
        from qlight.device.config import TwinConfig
        from qlight.device.factory import build_instruments

        wall0 = time.perf_counter()
        instruments = build_instruments(TwinConfig(seed=req.seed, preset=preset))
        n_lines = max(1, round(req.size_m / req.step_m))
        with progress("scanning", n_lines, enabled=not json_output) as advance:
            image = conf.run_scan(instruments, req, advance)
        summary = conf.scan_summary(image)
        meta = {"command": "qlight simulate scan", "seed": seed, "preset": preset, **summary}
        conf.save_scan_npz(image, npz, meta)
        conf.save_scan_png(image, png, f"qlight twin, preset {preset}, seed {seed}")
    result = {"png": str(png), "npz": str(npz), "preset": preset, "seed": seed, **summary,
              "wall_time_s": time.perf_counter() - wall0}  # fmt: skip
    if json_output:
        print_json(result)
        return
    table = Table(title="Confocal scan (digital twin)", show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)
