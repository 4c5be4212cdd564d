"""``qlight qkd simulate``: run the event-level BB84 link simulator and report what it saw.

Registered in :mod:`qlight.cli.qkd` (the ``qkd`` group). Prints gains and QBERs per
intensity and basis with their binomial standard errors next to the theory's ``Q_μ``,
``E_μ``, the sifted-key length, Eve's known fraction (simulation truth) and the key rates a
real system would claim from the observed data (``docs/qkd-link.md``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json, progress
from qlight.qkd.link import (
    BobDetectors,
    LinkChannel,
    LinkConfig,
    LinkSource,
    estimate_key_rates,
    link_statistics,
    parse_eve,
    save_record,
    simulate_link,
)
from qlight.qkd.link.estimate import KeyRateEstimate, LinkStatistics
from qlight.qkd.theory.channel import (
    DetectorModel,
    FibreChannel,
    gain_and_qber,
    raw_gain_and_qber,
)
from qlight.qkd.theory.presets import get_preset

__all__ = ["qkd_simulate"]

_DEFAULT_MU = {"sps": 0.5, "wcp": 0.48, "wcp-decoy": 0.48}
#: The key rate each source claims: GLLP for SPS and plain WCP, vacuum+weak decoy for WCP.
_SECURE_METHOD = {"sps": "gllp", "wcp": "gllp", "wcp-decoy": "decoy"}


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"--decoy-intensities={text!r} must be comma-separated numbers")


def _build(
    source: str, mu: float | None, g2: float, decoys: str, decoy_prob: float,
    preset: str, distance_km: float, eve: str, encoding: str, visibility: float,
    dead_time_pulses: float, afterpulse_prob: float,
) -> LinkConfig:  # fmt: skip
    if source not in _DEFAULT_MU:
        fail(f"--source={source!r} must be one of sps, wcp-decoy, wcp")
    if encoding not in ("polarization", "time-bin"):
        fail(f"--encoding={encoding!r} must be polarization or time-bin")
    p = get_preset(preset)
    m = p.detector
    model = DetectorModel(
        m.efficiency, m.dark_yield, m.misalignment, afterpulse_prob, dead_time_pulses
    )
    signal = _DEFAULT_MU[source] if mu is None else mu
    if source == "wcp-decoy":
        nus = _floats(decoys)
        if not nus:
            fail("--decoy-intensities must name at least one decoy")
        if not 0.0 < decoy_prob * len(nus) < 1.0:
            fail(f"--decoy-prob={decoy_prob} must leave the signal a probability in (0, 1)")
        src = LinkSource(
            "wcp", (signal, *nus), (1.0 - decoy_prob * len(nus), *([decoy_prob] * len(nus)))
        )
    else:
        src = LinkSource("sps" if source == "sps" else "wcp", (signal,), (1.0,), g2)
    fibre = FibreChannel(distance_km, p.loss_db_per_km)
    channel = LinkChannel.from_theory(
        fibre, encoding="time-bin" if encoding == "time-bin" else "polarization",
        visibility=visibility,
    )  # fmt: skip
    return LinkConfig(src, channel, BobDetectors(model), parse_eve(eve), basis_prob_z=0.5)


def _rate_json(r: KeyRateEstimate) -> dict[str, Any]:
    return asdict(r)


def _theory(config: LinkConfig) -> list[dict[str, float]]:
    """No-attack Q_k and E_k of every class (a vacuum class: Q = Y0, E = 1/2).

    Dead time and afterpulsing are driven by the click rate of all interleaved classes, so
    the theory gets the π-weighted mean ideal gain.
    """
    src, model = config.source, config.detectors.model
    t = config.channel.transmittance
    raw = [
        raw_gain_and_qber(src.theory_source(k), t, model)[0] if mu > 0.0 else model.dark_yield
        for k, mu in enumerate(src.intensities)
    ]
    mean_raw = float(np.dot(src.probabilities, raw))
    out: list[dict[str, float]] = []
    for k, mu in enumerate(src.intensities):
        if mu > 0.0:
            q, e = gain_and_qber(src.theory_source(k), t, model, mean_raw_gain=mean_raw)
        else:  # the mean-field correction of gain_and_qber applied to Q_raw = Y0
            d, p_ap = model.dead_time_pulses, model.afterpulse_prob
            b = 1.0 + d * mean_raw - p_ap
            r_bar = 2.0 * mean_raw / (b + math.sqrt(b * b + 4.0 * d * p_ap * mean_raw))
            q, e = (1.0 - d * r_bar) * (model.dark_yield + p_ap * r_bar), 0.5
        out.append({"mu": mu, "gain": q, "qber": e})
    return out


def _summary(
    config: LinkConfig, stats: LinkStatistics, rates: dict[str, KeyRateEstimate], source: str
) -> dict[str, Any]:
    method = _SECURE_METHOD[source]
    secure = rates[method]
    return {
        "per_intensity": [asdict(c) for c in stats.per_intensity],
        "theory_no_eve": _theory(config),
        "sifted_key_length": stats.sifted_key_length,
        "double_click_fraction": stats.double_click_fraction,
        "afterpulse_fraction": stats.afterpulse_fraction,
        "eve_known_fraction": stats.eve_known_fraction,
        "eve_known_err": stats.eve_known_err,
        "key_rates": {k: _rate_json(v) for k, v in rates.items()},
        "secure_key_method": method,
        "secure_key_rate_per_pulse": secure.rate_per_pulse,
        "secure_key_reason": secure.reason,
    }


def _print(parameters: dict[str, Any], out: dict[str, Any]) -> None:
    console = Console()
    params = Table(title="Parameters used", show_header=False)
    for key, value in parameters.items():
        params.add_row(key, str(value))
    console.print(params)
    t = Table(title="Observed per intensity (± 1 binomial standard error)")
    for col in (
        "μ",
        "sent",
        "gain",
        "theory gain (no Eve)",
        "QBER Z",
        "QBER X",
        "QBER",
        "theory QBER",
    ):
        t.add_column(col, justify="right")
    for c, th in zip(out["per_intensity"], out["theory_no_eve"], strict=True):
        t.add_row(
            f"{c['mu']:g}", f"{c['sent']:,}", f"{c['gain']:.4e} ± {c['gain_err']:.1e}",
            f"{th['gain']:.4e}", f"{c['qber_z']:.4f} ± {c['qber_z_err']:.4f}",
            f"{c['qber_x']:.4f} ± {c['qber_x_err']:.4f}", f"{c['qber']:.4f} ± {c['qber_err']:.4f}",
            f"{th['qber']:.4f}",
        )  # fmt: skip
    console.print(t)
    r = Table(title="Key rates claimed from the observed data (bits per sent signal pulse)")
    for col in ("method", "rate", "assumes Eve knows ≤", "broken by Eve?", "reason"):
        r.add_column(col)
    for name, v in out["key_rates"].items():
        r.add_row(
            name, f"{v['rate_per_pulse']:.4e}", f"{v['assumed_tagged']:.3f}",
            "YES" if v["compromised"] else "no", v["reason"] or "",
        )  # fmt: skip
    console.print(r)
    console.print(
        f"sifted key: {out['sifted_key_length']:,} bits; Eve knows "
        f"{out['eve_known_fraction']:.4f} ± {out['eve_known_err']:.4f} of it (simulation truth); "
        f"secure key rate ({out['secure_key_method']}): {out['secure_key_rate_per_pulse']:.4e} "
        f"per pulse; {out['pulses_per_s'] / 1e6:.1f} M pulses/s"
    )
    if out.get("out"):
        console.print(f"wrote {out['out']}")


def qkd_simulate(
    source: Annotated[str, typer.Option(help="sps | wcp-decoy | wcp")],
    pulses: Annotated[int, typer.Option(help="Number of pulses Alice sends.")],
    distance_km: Annotated[float, typer.Option(help="Fibre length (km).")],
    g2: Annotated[float, typer.Option(help="g2(0) of the single-photon source.")] = 0.05,
    mu: Annotated[float | None, typer.Option(help="Signal mean photon number.")] = None,
    decoy_intensities: Annotated[
        str, typer.Option(help="wcp-decoy: decoy intensities NU1[,NU2] (0 = vacuum).")
    ] = "0.1,0",
    decoy_prob: Annotated[float, typer.Option(help="Probability of each decoy class.")] = 0.1,
    eve: Annotated[str, typer.Option(help="none | intercept-resend:F | pns")] = "none",
    preset: Annotated[str, typer.Option(help="Detector and fibre preset: gys | modern.")] = "gys",
    encoding: Annotated[str, typer.Option(help="polarization | time-bin")] = "polarization",
    visibility: Annotated[float, typer.Option(help="Time-bin interferometer visibility.")] = 1.0,
    dead_time_pulses: Annotated[float, typer.Option(help="Detector dead time (pulses).")] = 0.0,
    afterpulse_prob: Annotated[float, typer.Option(help="Afterpulse probability.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the raw record (.npz or .h5).")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Simulate a BB84 link pulse by pulse (with Eve if asked) and estimate its key rate."""
    with cli_errors():
        if pulses < 1:
            fail(f"--pulses={pulses} must be >= 1")
        config = _build(
            source, mu, g2, decoy_intensities, decoy_prob, preset, distance_km, eve,
            encoding, visibility, dead_time_pulses, afterpulse_prob,
        )  # fmt: skip
        if out is not None and not out.parent.exists():
            fail(f"--out={str(out)!r}: directory does not exist")
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        with progress("simulating pulses", pulses, enabled=not json) as advance:
            record = simulate_link(config, pulses, rng, progress=advance)
        elapsed = time.perf_counter() - t0
        stats = link_statistics(record)
        src = config.source
        rates = estimate_key_rates(
            stats, kind=src.kind, p_multi=src.p_multi, f_ec=get_preset(preset).f_ec
        )
        result = _summary(config, stats, rates, source)
        result["pulses"] = pulses
        result["elapsed_s"] = elapsed
        result["pulses_per_s"] = pulses / elapsed if elapsed > 0 else float("inf")
        result["out"] = str(save_record(record, out)) if out is not None else None
        parameters = {
            "source": source, "mu": src.signal_mu, "g2": src.g2 if src.kind == "sps" else None,
            "intensities": list(src.intensities), "probabilities": list(src.probabilities),
            "distance_km": distance_km, "transmittance": config.channel.transmittance,
            "preset": preset, "eve": config.eve.label(), "encoding": encoding,
            "visibility": visibility, "dead_time_pulses": dead_time_pulses,
            "afterpulse_prob": afterpulse_prob, "seed": seed, "pulses": pulses,
        }  # fmt: skip
    if json:
        print_json({"parameters": parameters, **result})
    else:
        _print(parameters, result)
