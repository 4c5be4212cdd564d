"""``qlight qkd …``: quantum key distribution with the source.

Commands:

* ``keyrate`` — secret key rate versus fibre length from the theory (:mod:`qlight.qkd.theory`):
  the sub-Poissonian source (measured g2(0)), weak coherent pulses with or without decoys, and
  the PLOB bound; optional finite-key analysis, maximum distance and a plot;
* ``simulate`` — the BB84 link simulator, added below the marked place (engineer HD).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, print_json, progress
from qlight.cli._qkd_keyrate import (
    RateCurve,
    compute_curve,
    flag_errors,
    max_distance,
    parse_distances,
    plob_curve,
    save_plot,
)
from qlight.errors import ParameterError
from qlight.qkd.theory import (
    DECOY_METHODS,
    SOURCES,
    FiniteKeySettings,
    KeyRatePreset,
    Protocol,
    get_preset,
)

__all__ = ["qkd_app"]

qkd_app = typer.Typer(
    name="qkd",
    help="Quantum key distribution with the source: key-rate theory and link simulation.",
    no_args_is_help=True,
)

_LABEL = {"sps": "SPS (GLLP)", "wcp-decoy": "WCP decoy", "wcp": "WCP, no decoys"}


def _label(protocol: Protocol) -> str:
    if protocol.source == "sps":
        return f"{_LABEL['sps']}, g2(0) = {protocol.g2:g}"
    if protocol.source == "wcp-decoy":
        kind = "three intensities" if protocol.n_pulses is not None else protocol.decoys
        return f"{_LABEL['wcp-decoy']} ({kind})"
    return _LABEL[protocol.source]


def _parse_nu(text: str | None) -> tuple[float, ...]:
    if text is None:
        return ()
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ParameterError("--decoy-intensities", text, "must be NU1[,NU2]") from None
    if not 1 <= len(values) <= 2 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ParameterError("--decoy-intensities", text, "must be one or two numbers >= 0")
    return values


def _protocol(
    source: str,
    g2: float | None,
    mu: float | None,
    decoys: str | None,
    nu: tuple[float, ...],
    finite_n: float | None,
) -> Protocol:
    if source not in SOURCES:
        raise ParameterError("--source", source, f"must be one of {' | '.join(SOURCES)}")
    if source == "sps" and g2 is None:
        raise ParameterError("--g2", None, "is required with --source sps (measured g2(0))")
    if decoys is not None and decoys not in DECOY_METHODS:
        raise ParameterError("--decoys", decoys, f"must be one of {' | '.join(DECOY_METHODS)}")
    if decoys is not None and source != "wcp-decoy":
        raise ParameterError("--decoys", decoys, "applies to --source wcp-decoy only")
    if nu and source != "wcp-decoy":
        raise ParameterError("--decoy-intensities", nu, "applies to --source wcp-decoy only")
    method = decoys or "infinite"
    if finite_n is not None and method not in ("infinite", "two") and decoys is not None:
        raise ParameterError(
            "--decoys", decoys, "with --finite-n the three-intensity protocol is used (two)"
        )
    if finite_n is None and nu and method == "infinite":
        raise ParameterError(
            "--decoy-intensities", nu, "needs --decoys vacuum+weak or two (infinite has none)"
        )
    with flag_errors():
        return Protocol(
            source,
            mu=mu,
            g2=0.0 if g2 is None else g2,
            decoys="two" if finite_n is not None else method,
            nu=nu,
            n_pulses=finite_n,
        )


def _check_plot_path(plot: Path | None) -> None:
    if plot is None:
        return
    if plot.is_dir() or not plot.parent.is_dir():
        raise ParameterError("--plot", str(plot), "must be a file in an existing folder")
    if plot.suffix.lower() != ".png":
        raise ParameterError("--plot", str(plot), "must end in .png")


def _parameters(
    protocol: Protocol, preset: KeyRatePreset, settings: FiniteKeySettings | None
) -> dict[str, Any]:
    det = preset.detector
    return {
        "source": protocol.source,
        "g2": protocol.g2 if protocol.source == "sps" else None,
        "mu": protocol.mu,
        "mu_optimised": protocol.mu is None,
        "decoys": protocol.decoys if protocol.source == "wcp-decoy" else None,
        "decoy_intensities": list(protocol.nu) or None,
        "preset": preset.name,
        "loss_db_per_km": preset.loss_db_per_km,
        "eta_bob": det.efficiency,
        "dark_yield": det.dark_yield,
        "misalignment": det.misalignment,
        "f_ec": preset.f_ec,
        "q": preset.q if settings is None else None,
        "finite_n": None if settings is None else settings.n_pulses,
        "eps_sec": None if settings is None else settings.eps_sec,
        "eps_cor": None if settings is None else settings.eps_cor,
    }


def _print_table(params: dict[str, Any], curve: RateCurve, plob: list[float]) -> None:
    console = Console()
    table = Table(title="Parameters used", show_header=False)
    for key, value in params.items():
        table.add_row(key, str(value))
    console.print(table)
    res = Table(title=f"Secret key rate: {curve.label}")
    for name in ("km", "bits/pulse", "mu", "QBER", "PLOB", "note"):
        res.add_column(name, justify="right" if name != "note" else "left")
    for k, km in enumerate(curve.distance_km):
        res.add_row(
            f"{km:g}",
            f"{curve.rate_per_pulse[k]:.4g}",
            f"{curve.mu[k]:.4g}",
            f"{curve.qber[k]:.4f}",
            f"{plob[k]:.4g}",
            curve.reason[k] or "",
        )
    console.print(res)
    if curve.max_distance_km is not None:
        console.print(f"maximum distance: {curve.max_distance_km:.3f} km")


@qkd_app.command("keyrate")
def keyrate(
    source: Annotated[str, typer.Option("--source", help="sps | wcp-decoy | wcp.")],
    g2: Annotated[
        float | None, typer.Option("--g2", help="Measured g2(0) of the SPS (required for sps).")
    ] = None,
    mu: Annotated[
        float | None,
        typer.Option("--mu", help="Mean photon number per pulse (default: optimised)."),
    ] = None,
    decoys: Annotated[
        str | None,
        typer.Option(
            "--decoys", help="infinite | vacuum+weak | two (wcp-decoy; default infinite)."
        ),
    ] = None,
    decoy_intensities: Annotated[
        str | None,
        typer.Option(
            "--decoy-intensities", help="NU1[,NU2] (default 0.1[,0]; finite key: μ2[,μ3])."
        ),
    ] = None,
    preset: Annotated[str, typer.Option("--preset", help="gys | modern.")] = "gys",
    distance_km: Annotated[
        str, typer.Option("--distance-km", help="Fibre lengths A:B:STEP in km.")
    ] = "0:200:5",
    finite_n: Annotated[
        float | None, typer.Option("--finite-n", help="Pulses sent: finite-key rate (Lim 2014).")
    ] = None,
    want_max: Annotated[
        bool, typer.Option("--max-distance", help="Also solve for the maximum distance.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="PNG with this source, SPS, WCP decoy and PLOB vs distance."),
    ] = None,
) -> None:
    """Secret key rate per pulse versus fibre length, with the PLOB bound."""
    with cli_errors():
        nu = _parse_nu(decoy_intensities)
        protocol = _protocol(source, g2, mu, decoys, nu, finite_n)
        with flag_errors():
            the_preset = get_preset(preset)
        distances = parse_distances(distance_km)
        _check_plot_path(plot)
        settings = None if finite_n is None else FiniteKeySettings(finite_n)
        others: list[tuple[str, Protocol]] = []
        if plot is not None:
            if source != "sps" and g2 is not None:
                others.append((f"SPS, g2(0) = {g2:g}", Protocol("sps", g2=g2, n_pulses=finite_n)))
            if source != "wcp-decoy":
                others.append(("WCP decoy (optimised μ)", Protocol("wcp-decoy", n_pulses=finite_n)))
        total = float(distances.size * (1 + len(others)))
        with progress("key rate", total, enabled=not json_output) as advance:
            label = _label(protocol)
            curve = compute_curve(label, protocol, the_preset, distances, advance=advance)
            extra = [
                compute_curve(lb, p, the_preset, distances, advance=advance) for lb, p in others
            ]
        if want_max:
            curve.max_distance_km = max_distance(protocol, the_preset)
        plob = plob_curve(distances, the_preset)
        if plot is not None:
            save_plot(plot, [curve, *extra], plob, the_preset, settings)
    params = _parameters(protocol, the_preset, settings)
    if json_output:
        out: dict[str, Any] = {"parameters": params, **curve.as_json(), "plob_per_pulse": plob}
        if want_max:
            out["max_distance_km"] = curve.max_distance_km
        if plot is not None:
            out["plot"] = str(plot)
        print_json(out)
        return
    _print_table(params, curve, list(plob))
    if plot is not None:
        Console().print(f"plot written to {plot}")


# ---- qkd simulate (engineer HD): add the `simulate` command below this line ----
from qlight.cli._qkd_simulate import qkd_simulate  # noqa: E402

qkd_app.command("simulate")(qkd_simulate)
# ---- end of qkd simulate ----

# ---- qkd reconcile (engineer HF) ----
from qlight.cli._qkd_reconcile import qkd_reconcile  # noqa: E402

qkd_app.command("reconcile")(qkd_reconcile)
# ---- end of qkd reconcile ----

# ---- qkd pipeline (engineer HG) ----
from qlight.cli._qkd_pipeline import qkd_pipeline  # noqa: E402

qkd_app.command("pipeline")(qkd_pipeline)
# ---- end of qkd pipeline ----
