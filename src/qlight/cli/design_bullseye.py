"""``qlight design bullseye`` and ``qlight design layout`` (issue 10, design part).

* ``bullseye`` — optimise a circular Bragg grating for a wavelength and NA
  (:func:`qlight.photonics.design_search.optimize_bullseye`) or take the committed design table
  (``--from-table``), report geometry, collection, Purcell factor, resolution, far field;
* ``layout`` — GDSII file with a bullseye around each selected emitter of the registry,
  designed for its ZPL from the design table, plus the alignment marks. The registry glue
  is here because ``qlight.photonics`` may not import ``qlight.mapping``.

Registered on ``design_app`` by :mod:`qlight.cli.design`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json, progress
from qlight.errors import ParameterError
from qlight.photonics.design import (
    DesignResult,
    evaluate_design,
    far_field_summary,
    initial_design,
)
from qlight.photonics.design_search import (
    CENTER_POINTS,
    CENTER_SPAN,
    FREE_PARAMETERS,
    PURCELL_TARGET,
    optimize_bullseye,
    planned_solves,
)
from qlight.photonics.design_table import load_design_table

__all__ = ["bullseye", "layout"]


def _rows(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        text = f"{value:.5g}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    Console().print(table)


def _save_plot(path: Path, result: DesignResult) -> None:
    """Cross-section of the structure (|ε|) and the far-field pattern dP/dΩ."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    d = result.design
    s = d.structure()
    r = np.linspace(0.0, d.outer_radius_nm + 300.0, 600)
    z = np.linspace(s.z_bottom_nm - 150.0, 150.0, 200)
    eps = np.abs(s.epsilon(r[None, :], z[:, None], d.wavelength_nm))
    fig = Figure(figsize=(11.0, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(
        np.log(eps), origin="lower", extent=(r[0], r[-1], z[0], z[-1]), aspect="auto", cmap="Greys"
    )
    ax.set_xlabel("r (nm)")
    ax.set_ylabel("z (nm)")
    ax.set_title(f"bullseye for {d.wavelength_nm:g} nm (log|ε|)")
    axp: Any = fig.add_subplot(1, 2, 2, projection="polar")
    axp.set_theta_zero_location("N")
    for o, color in (("h", "tab:blue"), ("v", "tab:red")):
        if o not in result.emission.results:
            continue
        res = result.emission.results[o]
        pat = res.pattern_per_bulk / res.purcell
        for sign in (1.0, -1.0):
            axp.plot(sign * res.theta_rad, pat, color=color, label=o if sign > 0 else None)
    edge = math.asin(min(1.0, result.na))
    for sign in (1.0, -1.0):
        axp.axvline(sign * edge, color="grey", linestyle="--", linewidth=1)
    axp.set_thetamin(-90)
    axp.set_thetamax(90)
    axp.set_title("dP/dΩ per emitted power")
    axp.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=110)


def bullseye(
    wavelength_nm: Annotated[
        float, typer.Option("--wavelength-nm", help="Target wavelength (nm).")
    ],
    na: Annotated[float, typer.Option("--na", help="Objective NA (in air).")] = 0.9,
    membrane_nm: Annotated[
        float | None,
        typer.Option("--membrane-nm", help="Fix the GaN membrane thickness (default: optimised)."),
    ] = None,
    spacer_nm: Annotated[
        float | None,
        typer.Option("--spacer-nm", help="Fix the spacer to the mirror (default: optimised)."),
    ] = None,
    spacer: Annotated[str, typer.Option("--spacer", help="Spacer medium: air or SiO2.")] = "air",
    reflector: Annotated[
        str, typer.Option("--reflector", help="Bottom mirror: Au or none.")
    ] = "Au",
    rings: Annotated[int, typer.Option("--rings", help="Number of trenches (searched).")] = 10,
    ring_search: Annotated[
        bool,
        typer.Option("--ring-search/--no-ring-search", help="Compare n-4, n-2, n, n+2 rings."),
    ] = True,
    purcell_target: Annotated[
        float, typer.Option("--purcell-target", help="Purcell factor the merit asks for.")
    ] = PURCELL_TARGET,
    search_resolution_nm: Annotated[
        float, typer.Option("--search-resolution-nm", help="Grid of the global search (nm).")
    ] = 20.0,
    refine_resolution_nm: Annotated[
        float, typer.Option("--refine-resolution-nm", help="Grid of the refinement; 0: none.")
    ] = 10.0,
    resolution_nm: Annotated[
        float, typer.Option("--resolution-nm", help="Grid of the reported result (nm).")
    ] = 7.5,
    center_span: Annotated[
        float,
        typer.Option(
            "--center-span",
            help="Resonance centring: lateral scales 1 ± span at the final grid; 0: none.",
        ),
    ] = CENTER_SPAN,
    max_evaluations: Annotated[
        int, typer.Option("--max-evaluations", help="Solves of the global search.")
    ] = 120,
    refine_evaluations: Annotated[
        int, typer.Option("--refine-evaluations", help="Solves of the refinement.")
    ] = 60,
    from_table: Annotated[
        bool,
        typer.Option("--from-table", help="Take the committed design table, no optimisation."),
    ] = False,
    table_path: Annotated[
        Path | None,
        typer.Option("--table", help="Design table JSON for --from-table (default: committed)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG: cross-section and far field.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Optimise a GaN-membrane bullseye for a wavelength and NA (axisymmetric FDFD)."""
    if reflector.lower() not in ("au", "none"):
        fail(f"--reflector={reflector!r} must be Au or none")
    refl = None if reflector.lower() == "none" else "Au"
    if rings < 1:
        fail(f"--rings={rings} must be >= 1")
    if max_evaluations < 0 or refine_evaluations < 0:
        fail("--max-evaluations and --refine-evaluations must be >= 0")
    free = tuple(
        p
        for p in FREE_PARAMETERS
        if not (p == "membrane_nm" and membrane_nm is not None)
        and not (p == "spacer_nm" and (spacer_nm is not None or refl is None))
    )
    with cli_errors():
        if from_table:
            table = load_design_table(table_path)
            if not math.isclose(na, table.na):
                raise ParameterError("na", na, f"must be the table's NA {table.na:g}")
            design = table.design_for(wavelength_nm)
            orientations = ("h", "v")
            em = evaluate_design(design, na, resolution_nm, orientations)
            h = (resolution_nm, em.purcell("h"), em.collection_efficiency("h"))
            result = DesignResult(
                design=design,
                na=na,
                emission=em,
                search_resolution_nm=resolution_nm,
                final_resolution_nm=resolution_nm,
                n_evaluations=len(orientations),
                seconds=em.seconds,
                convergence=(h,),
                history=(),
            )
        else:
            start = None
            if membrane_nm is not None or spacer_nm is not None:
                start = initial_design(
                    wavelength_nm,
                    membrane_nm=160.0 if membrane_nm is None else membrane_nm,
                    n_rings=rings,
                    spacer=spacer,
                    reflector=refl,
                )
                if spacer_nm is not None:
                    if refl is not None and spacer_nm <= 0:
                        raise ParameterError("spacer_nm", spacer_nm, "must be > 0 with a mirror")
                    start = replace(start, spacer_nm=spacer_nm)
            refine = refine_resolution_nm if refine_resolution_nm > 0 else None
            cands = None if ring_search else ()
            total = planned_solves(
                max_evaluations,
                refine_evaluations,
                4 if ring_search else 0,
                refine is not None,
                CENTER_POINTS if center_span > 0 else 0,
            )
            with progress("optimising bullseye", total, enabled=not json) as advance:
                result = optimize_bullseye(
                    wavelength_nm,
                    na,
                    free=free,
                    n_rings=rings,
                    ring_candidates=cands,
                    spacer=spacer,
                    reflector=refl,
                    purcell_target=purcell_target,
                    search_resolution_nm=search_resolution_nm,
                    refine_resolution_nm=refine,
                    final_resolution_nm=resolution_nm,
                    max_evaluations=max_evaluations,
                    refine_evaluations=refine_evaluations,
                    center_span=center_span,
                    start=start,
                    progress=advance,
                )
        if plot is not None:
            _save_plot(plot, result)
    out = result.summary()
    out["plot"] = None if plot is None else str(plot)
    if json:
        print_json(out)
        return
    rows: dict[str, Any] = dict(out["geometry"])
    for key in ("collection_efficiency", "purcell", "radiated_to_top", "resolution_nm"):
        rows[key] = out[key]
    ff = far_field_summary(result.emission, "h")
    rows["far field peak (deg)"] = ff["peak_angle_deg"]
    rows["half-power cone (deg)"] = ff["half_power_angle_deg"]
    rows["solves"] = out["n_evaluations"]
    rows["seconds"] = out["seconds"]
    _rows(f"Bullseye for {wavelength_nm:g} nm, NA {na:g} (in-plane dipole)", rows)


def layout(
    registry: Annotated[Path, typer.Option("--registry", help="Emitter registry database.")],
    emitters: Annotated[
        str, typer.Option("--emitters", help="Comma-separated emitter IDs (E-0001,E-0002).")
    ],
    out: Annotated[Path, typer.Option("--out", help="GDSII file to write.")],
    zpl_from_registry: Annotated[
        bool,
        typer.Option(
            "--zpl-from-registry", help="Design each bullseye for the emitter's measured ZPL."
        ),
    ] = False,
    wavelength_nm: Annotated[
        float, typer.Option("--wavelength-nm", help="Design wavelength when not from the registry.")
    ] = 650.0,
    table: Annotated[
        Path | None, typer.Option("--table", help="Design table JSON (default: committed).")
    ] = None,
    chip_size_um: Annotated[
        float, typer.Option("--chip-size-um", help="Side of the square chip (µm).")
    ] = 200.0,
    marks: Annotated[bool, typer.Option("--marks/--no-marks", help="Alignment marks.")] = True,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """GDSII layout: a bullseye centred on each selected emitter, plus alignment marks."""
    from qlight.mapping.registry import Registry
    from qlight.photonics.layout import (
        LAYER_EMITTER,
        LAYER_ETCH,
        LAYER_LABEL,
        LAYER_MARKS,
        TOP_CELL,
        LayoutSite,
        cell_name,
        write_layout,
    )
    from qlight.physics.marks import MarkLayout

    ids = [e.strip() for e in emitters.split(",") if e.strip()]
    if not ids:
        fail("--emitters must list at least one emitter ID")
    if not registry.exists():
        fail(f"--registry={str(registry)!r} does not exist")
    if not (math.isfinite(chip_size_um) and chip_size_um > 0):
        fail(f"--chip-size-um={chip_size_um} must be > 0")
    rows: list[dict[str, Any]] = []
    with cli_errors():
        tab = load_design_table(table)
        with Registry.open(registry, create=False) as reg:
            records = [reg.emitter(i) for i in ids]
        sites = []
        for rec in records:
            zpl = rec.fingerprint.get("zpl_nm") if zpl_from_registry else wavelength_nm
            if not isinstance(zpl, int | float) or isinstance(zpl, bool):
                raise ParameterError("zpl_nm", zpl, f"of emitter {rec.id} is not in the registry")
            design = tab.design_for(float(zpl))
            sites.append(LayoutSite(rec.id, rec.x_chip_m, rec.y_chip_m, design))
            rows.append(
                {
                    "emitter_id": rec.id,
                    "cell": cell_name(rec.id),
                    "x_um": rec.x_chip_m * 1e6,
                    "y_um": rec.y_chip_m * 1e6,
                    "zpl_nm": float(zpl),
                    "geometry": design.to_dict(),
                    "outer_radius_um": design.outer_radius_nm * 1e-3,
                    "collection_efficiency": tab.collection_efficiency(float(zpl)),
                    "purcell": tab.purcell(float(zpl)),
                }
            )
        size = chip_size_um * 1e-6
        write_layout(sites, out, marks=MarkLayout() if marks else None, chip_size_m=(size, size))
    result: dict[str, Any] = {
        "out": str(out),
        "chip_size_um": chip_size_um,
        "marks": marks,
        "layers": {
            "etch": list(LAYER_ETCH),
            "marks": list(LAYER_MARKS),
            "emitter": list(LAYER_EMITTER),
            "label": list(LAYER_LABEL),
        },
        "top_cell": TOP_CELL,
        "table_na": tab.na,
        "emitters": rows,
    }
    if json:
        print_json(result)
        return
    t = Table(title=f"{out}: {len(rows)} bullseyes")
    for col in ("emitter", "x (µm)", "y (µm)", "ZPL (nm)", "period (nm)", "R₀ (nm)", "η", "F_P"):
        t.add_column(col, justify="right")
    for r in rows:
        g = r["geometry"]
        t.add_row(
            r["emitter_id"],
            f"{r['x_um']:.3f}",
            f"{r['y_um']:.3f}",
            f"{r['zpl_nm']:.2f}",
            f"{g['period_nm']:.1f}",
            f"{g['disc_radius_nm']:.1f}",
            f"{r['collection_efficiency']:.3f}",
            f"{r['purcell']:.2f}",
        )
    Console().print(t)
