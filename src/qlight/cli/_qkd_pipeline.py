"""``qlight qkd pipeline``: link simulation (or a saved record) → final keys, stage by stage.

Registered in :mod:`qlight.cli.qkd`. Runs :func:`qlight.qkd.postprocess.pipeline.run_pipeline`
(sifting, estimation, Cascade or LDPC, verification, Toeplitz privacy amplification) with
Alice and Bob as two parties over the authenticated channel, prints every stage's bits, and
writes the final key to a key file and/or both parties' SQLite key stores. An abort (QBER too
high, authentication failure, verification mismatch, no secret key) prints the reason and
exits with code 1; no key is written. See ``docs/qkd-privacy-amplification.md``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json, progress
from qlight.cli._qkd_simulate import _build
from qlight.qkd.link import LinkRecord, LinkSource, load_record, simulate_link
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.keystore import SqliteKeyStore
from qlight.qkd.postprocess.pipeline import (
    METHODS,
    STAGES,
    PipelineResult,
    PipelineSettings,
    run_pipeline,
    store_final_key,
)

__all__ = ["qkd_pipeline"]

EXIT_ABORT = 1


def _source_of(record: LinkRecord) -> LinkSource:
    meta = record.metadata.get("source")
    if not isinstance(meta, dict):
        fail("--record: the record has no source metadata (not written by qlight)")
    try:
        return LinkSource(
            str(meta["kind"]),  # type: ignore[arg-type]
            tuple(float(x) for x in meta["intensities"]),
            tuple(float(x) for x in meta["probabilities"]),
            float(meta.get("g2", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        fail(f"--record: bad source metadata ({exc})")


def _check_outputs(key_file: Path | None, store_dir: Path | None) -> None:
    if key_file is not None and (key_file.is_dir() or not key_file.parent.is_dir()):
        fail(f"--key-file={str(key_file)!r} must be a file in an existing folder")
    if store_dir is not None and not store_dir.is_dir():
        fail(f"--store-dir={str(store_dir)!r} must be an existing folder")


def _stages_json(result: PipelineResult) -> list[dict[str, Any]]:
    return [asdict(s) for s in result.stages]


def _print(params: dict[str, Any], out: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="Post-processing stages (bits)")
    for name in ("stage", "Alice", "Bob", "leaked", "detail"):
        table.add_column(name, justify="left" if name in ("stage", "detail") else "right")
    for s in out["stages"]:
        detail = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s["detail"].items()
        )
        table.add_row(
            s["stage"], str(s["alice_bits"]), str(s["bob_bits"]), str(s["leaked_bits"]), detail
        )
    console.print(table)
    console.print(
        f"method {params['method']}, {params['pulses']} pulses, "
        f"QBER {out['qber']:.4f} (upper bound {out['qber_upper']:.4f}): "
        f"final key {out['final_key_bits']} bits, identical on both sides"
    )
    if out["key_file"]:
        console.print(f"key written to {out['key_file']}")
    if out["stored_keys"]:
        console.print(f"{out['stored_keys']} keys stored in {out['store_dir']}")


def qkd_pipeline(
    source: Annotated[
        str, typer.Option(help="sps | wcp-decoy | wcp (ignored with --record)")
    ] = "sps",
    pulses: Annotated[int, typer.Option(help="Number of pulses Alice sends.")] = 100_000_000,
    distance_km: Annotated[float, typer.Option(help="Fibre length (km).")] = 10.0,
    g2: Annotated[float, typer.Option(help="g2(0) of the single-photon source.")] = 0.05,
    mu: Annotated[float | None, typer.Option(help="Signal mean photon number.")] = None,
    decoy_intensities: Annotated[
        str, typer.Option(help="wcp-decoy: decoy intensities NU1[,NU2] (0 = vacuum).")
    ] = "0.1,0",
    decoy_prob: Annotated[float, typer.Option(help="Probability of each decoy class.")] = 0.1,
    eve: Annotated[str, typer.Option(help="none | intercept-resend:F | pns")] = "none",
    preset: Annotated[str, typer.Option(help="Detector and fibre preset: gys | modern.")] = "gys",
    record: Annotated[
        Path | None, typer.Option(help="Post-process this saved link record instead.")
    ] = None,
    method: Annotated[str, typer.Option(help="cascade | cascade-opt | ldpc")] = "cascade-opt",
    sample_fraction: Annotated[
        float, typer.Option(help="Fraction of the sifted key disclosed to estimate the QBER.")
    ] = 0.1,
    eps_sec: Annotated[float, typer.Option(help="Secrecy parameter.")] = 1e-10,
    eps_cor: Annotated[float, typer.Option(help="Correctness parameter (verification).")] = 1e-15,
    transport: Annotated[str, typer.Option(help="inprocess | tcp (loopback)")] = "inprocess",
    seed: Annotated[int, typer.Option(help="Random seed (simulation and protocol).")] = 0,
    key_file: Annotated[
        Path | None, typer.Option(help="Write the final key (packed bits) to this file.")
    ] = None,
    store_dir: Annotated[
        Path | None, typer.Option(help="Put the keys in DIR/alice.sqlite and DIR/bob.sqlite.")
    ] = None,
    key_size_bits: Annotated[int, typer.Option(help="Size of each stored key.")] = 256,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Post-process a BB84 link into identical final keys, with every stage's bit counts."""
    with cli_errors():
        if method not in METHODS:
            fail(f"--method={method!r} must be one of {' | '.join(METHODS)}")
        if key_size_bits < 8 or key_size_bits % 8:
            fail(f"--key-size-bits={key_size_bits} must be a multiple of 8, >= 8")
        _check_outputs(key_file, store_dir)
        settings = PipelineSettings(
            method=method, sample_fraction=sample_fraction, eps_sec=eps_sec, eps_cor=eps_cor,
            transport=transport,
        )  # fmt: skip
        rng = np.random.default_rng(seed)
        if record is not None:
            if not record.is_file():
                fail(f"--record={str(record)!r} does not exist")
            rec = load_record(record)
            src = _source_of(rec)
        else:
            if pulses < 1:
                fail(f"--pulses={pulses} must be >= 1")
            config = _build(
                source, mu, g2, decoy_intensities, decoy_prob, preset, distance_km, eve,
                "polarization", 1.0, 0.0, 0.0,
            )  # fmt: skip
            src = config.source
            with progress("simulating pulses", pulses, enabled=not json) as advance:
                rec = simulate_link(config, pulses, rng, progress=advance)
        params = {
            "source": src.kind, "intensities": list(src.intensities), "g2": src.g2,
            "pulses": int(rec.n_pulses), "distance_km": None if record else distance_km,
            "eve": None if record else eve, "preset": None if record else preset,
            "record": str(record) if record else None, "method": method,
            "sample_fraction": sample_fraction, "eps_sec": eps_sec, "eps_cor": eps_cor,
            "transport": transport, "seed": seed, "p_multi": src.p_multi,
        }  # fmt: skip
        t0 = time.perf_counter()
        try:
            with progress("post-processing", len(STAGES), enabled=not json) as advance:
                result = run_pipeline(
                    rec, p_multi=src.p_multi, settings=settings, rng=rng, progress=advance
                )
        except ProtocolAbort as exc:
            _abort(params, exc.reason, json)
        wall = time.perf_counter() - t0
        stored = 0
        if key_file is not None:
            key_file.write_bytes(np.packbits(result.final_key).tobytes())
        if store_dir is not None:
            with (
                SqliteKeyStore(store_dir / "alice.sqlite") as a_store,
                SqliteKeyStore(store_dir / "bob.sqlite") as b_store,
            ):
                stored = len(store_final_key(result, a_store, b_store, key_size_bits))
    out = {
        "aborted": False,
        "reason": None,
        "stages": _stages_json(result),
        "qber": result.qber,
        "qber_upper": result.qber_upper,
        "final_key_bits": int(result.final_key.size),
        "secret_bits_per_pulse": result.final_key.size / rec.n_pulses,
        "key_file": str(key_file) if key_file else None,
        "store_dir": str(store_dir) if store_dir else None,
        "stored_keys": stored,
        "wall_s": wall,
    }
    if json:
        print_json({"parameters": params, **out})
    else:
        _print(params, out)


def _abort(params: dict[str, Any], reason: str, json: bool) -> NoReturn:
    """Report a protocol abort (no key written) and exit with code 1."""
    if json:
        print_json({"parameters": params, "aborted": True, "reason": reason})
    else:
        Console(stderr=True).print(f"aborted: {reason} (no key written)", style="bold red")
    raise typer.Exit(EXIT_ABORT)
