"""``qlight design …``: photon-extraction calculations (issue 10).

Commands:

* ``planar`` — exact dipole emission in a planar multilayer given as a SPEC string
  (``air/GaN:150@75/SiO2:300/Au``): collection into an NA, radiation to top and bottom,
  guided power, Purcell factor; ``--plot`` draws the angular pattern in the top medium;
* ``sil`` — collection through an ideal hemispherical or Weierstrass solid immersion lens;
* ``bullseye``, ``layout`` — bullseye design and GDSII layout (:mod:`.design_bullseye`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json
from qlight.cli.design_bullseye import bullseye, layout
from qlight.photonics.layers import Stack, parse_stack
from qlight.photonics.modes import guided_modes
from qlight.photonics.planar import angular_pattern, planar_emission
from qlight.photonics.sil import sil_collection

__all__ = ["design_app"]

design_app = typer.Typer(
    name="design",
    help="Photon extraction: layer stacks, solid immersion lenses, bullseye design and layout.",
    no_args_is_help=True,
)
design_app.command("bullseye")(bullseye)
design_app.command("layout")(layout)

_DIPOLES = ("h", "v", "iso")


def _table(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        if isinstance(value, float):
            text = "n/a" if math.isnan(value) else f"{value:.5g}"
        else:
            text = "n/a" if value is None else str(value)
        table.add_row(key, text)
    Console().print(table)


def _save_pattern(path: Path, stack: Stack, wavelength_nm: float, na: float | None) -> None:
    """Polar plot of dP/dΩ (per bulk power) in the top medium for h (both cuts) and v."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    theta = np.linspace(0.0, 0.5 * math.pi, 721)[:-1]
    pat = angular_pattern(stack, wavelength_nm, theta)
    fig = Figure(figsize=(6.0, 5.0))
    FigureCanvasAgg(fig)
    ax: Any = fig.add_subplot(1, 1, 1, projection="polar")
    ax.set_theta_zero_location("N")
    for sign in (1.0, -1.0):
        ax.plot(sign * theta, pat.h_p, color="tab:blue", label="h, φ=0 (p)" if sign > 0 else None)
        ax.plot(
            sign * theta, pat.h_s, color="tab:green", label="h, φ=90° (s)" if sign > 0 else None
        )
        ax.plot(sign * theta, pat.v, color="tab:red", label="v" if sign > 0 else None)
    if na is not None:
        n_top = stack.top.n(wavelength_nm).real
        edge = math.asin(min(1.0, na / n_top))
        for sign in (1.0, -1.0):
            ax.axvline(sign * edge, color="grey", linestyle="--", linewidth=1)
    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.tick_params(axis="y", labelsize=7)
    ax.set_thetamin(-90)
    ax.set_thetamax(90)
    ax.set_title(f"{stack.spec()}, λ = {wavelength_nm:g} nm: dP/dΩ / P₀ (top)")
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=120)


@design_app.command("planar")
def planar(
    layers: Annotated[
        str,
        typer.Option(
            "--layers",
            help="Media top to bottom, MATERIAL[:THICKNESS_NM][@DEPTH_NM] joined by '/'; "
            "MATERIAL is air, GaN, sapphire, SiO2, Au, PEC or n=VALUE; e.g. air/GaN@1000.",
        ),
    ],
    wavelength_nm: Annotated[
        float, typer.Option("--wavelength-nm", help="Vacuum wavelength (nm).")
    ] = 650.0,
    dipole: Annotated[
        str, typer.Option("--dipole", help="h (in-plane), v (normal) or iso.")
    ] = "iso",
    na: Annotated[
        float | None,
        typer.Option(
            "--na",
            help="Numerical aperture of the objective in the top medium "
            "(default 0.9; none when the top medium is PEC or absorbing).",
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the angular pattern as a PNG.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Exact emission of a dipole in a planar stack: collection, radiation, Purcell."""
    if dipole not in _DIPOLES:
        fail(f"--dipole={dipole!r} must be one of h, v, iso")
    with cli_errors():
        stack = parse_stack(layers)
        if na is None:
            top = stack.top
            eps = None if top.is_pec else top.epsilon(wavelength_nm)
            if eps is not None and eps.imag == 0.0 and eps.real > 0.0:
                na = min(0.9, math.sqrt(eps.real))
        res = planar_emission(stack, wavelength_nm, na=na)
        if plot is not None:
            _save_pattern(plot, stack, wavelength_nm, na)
        modes = guided_modes(stack, wavelength_nm) if res.lossless else []
    out: dict[str, Any] = dict(res.summary(dipole))
    a, b = {"h": (1.0, 0.0), "v": (0.0, 1.0), "iso": (2.0 / 3.0, 1.0 / 3.0)}[dipole]
    total = res.purcell(dipole)
    out["guided_modes"] = [
        {
            "polarization": m.polarization,
            "n_eff": m.n_eff,
            "fraction": (a * m.power_h + b * m.power_v) / total,
        }
        for m in modes
    ]
    out["plot"] = None if plot is None else str(plot)
    if json:
        print_json(out)
        return
    rows = {k: v for k, v in out.items() if k != "guided_modes"}
    for m in out["guided_modes"]:
        rows[f"guided {m['polarization']} n_eff={m['n_eff']:.4f}"] = m["fraction"]
    _table(f"Dipole ({dipole}) in {res.spec} at {wavelength_nm:g} nm", rows)


@design_app.command("sil")
def sil(
    kind: Annotated[
        str, typer.Option("--kind", help="hemispherical or weierstrass.")
    ] = "hemispherical",
    na: Annotated[float, typer.Option("--na", help="Numerical aperture (air).")] = 0.9,
    n: Annotated[float, typer.Option("--n", help="Index of the lens and emitter medium.")] = 2.4,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Collection through an ideal solid immersion lens (ray optics, Fresnel losses)."""
    if kind not in ("hemispherical", "weierstrass"):
        fail(f"--kind={kind!r} must be hemispherical or weierstrass")
    with cli_errors():
        res = sil_collection(kind, na, n)  # type: ignore[arg-type]
        flat = planar_emission(parse_stack(f"air/n={n:.12g}@1000"), 650.0, na=na)
    out: dict[str, Any] = {
        "kind": res.kind,
        "na": res.na,
        "n": res.n,
        "collection_efficiency_h": res.eta_h,
        "collection_efficiency_v": res.eta_v,
        "collection_efficiency_iso": res.eta_iso,
        "gain_vs_flat_h": res.eta_h / flat.na_h,
        "gain_vs_flat_v": res.eta_v / flat.na_v,
        "gain_vs_flat_iso": res.eta_iso / ((2.0 * flat.na_h + flat.na_v) / 3.0),
    }
    if json:
        print_json(out)
        return
    _table(f"{kind} SIL, n = {n:g}, NA {na:g}", out)
