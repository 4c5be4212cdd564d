"""``qlight registry list|show|export|import``: inspect and move the emitter registry.

``--db`` takes a file path (SQLite) or a database URL (``sqlite:///…``,
``postgresql+psycopg://…``). ``list`` and ``show`` never create a database; ``import``
creates the file if it is missing. Export format follows the file extension: ``.json`` is
the whole registry, ``.csv`` the emitter table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json
from qlight.mapping.registry import EMITTER_STATUSES, EmitterRecord, Registry
from qlight.mapping.registry.io import (
    export_csv,
    export_json,
    import_csv,
    import_json,
    read_csv,
    read_json,
    record_to_dict,
)

__all__ = ["registry_app"]

registry_app = typer.Typer(
    help="Inspect, export and import the emitter registry.", no_args_is_help=True
)

DbOpt = Annotated[
    str, typer.Option("--db", help="Registry file path or database URL.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _format(path: Path, flag: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        fail(f"{flag}={str(path)!r} must end in .json or .csv")
    return suffix[1:]


def _open(db: str, *, create: bool) -> Registry:
    if not db.strip():
        fail("--db='' must name a registry file or URL")
    return Registry.open(db, create=create)


def _um(value: float | None) -> str:
    return "" if value is None else f"{value * 1e6:.3f}"


def _emitter_table(rows: list[EmitterRecord]) -> Table:
    table = Table("ID", "chip", "x (µm)", "y (µm)", "σx (nm)", "σy (nm)", "score", "status")
    for e in rows:
        score = "" if e.quality_score is None else f"{e.quality_score:.3g}"
        table.add_row(
            e.id,
            e.chip_id,
            _um(e.x_chip_m),
            _um(e.y_chip_m),
            f"{e.sigma_x_m * 1e9:.1f}",
            f"{e.sigma_y_m * 1e9:.1f}",
            score,
            e.status,
        )
    return table


@registry_app.command("list")
def list_emitters(
    db: DbOpt,
    chip: Annotated[str | None, typer.Option("--chip", help="Only this chip.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status (active, bleached, retired).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List the mapped emitters (chip frame), with row counts of every table."""
    if status is not None and status not in EMITTER_STATUSES:
        fail(f"--status={status!r} must be one of {', '.join(EMITTER_STATUSES)}")
    with cli_errors(), _open(db, create=False) as reg:
        rows = reg.emitters(chip, status=status)
        counts = reg.counts()
        chips = [c.id for c in reg.chips()]
    if json:
        print_json(
            {
                "db": db,
                "chips": chips,
                "counts": counts,
                "emitters": [record_to_dict(e) for e in rows],
            }
        )
        return
    out = Console()
    out.print(_emitter_table(rows))
    out.print(", ".join(f"{k}: {v}" for k, v in counts.items()))


@registry_app.command("show")
def show(
    emitter_id: Annotated[str, typer.Argument(metavar="ID", help="Emitter ID, e.g. E-0001.")],
    db: DbOpt,
    json: JsonOpt = False,
) -> None:
    """One emitter with its full history of observations and events."""
    with cli_errors(), _open(db, create=False) as reg:
        hist = reg.history(emitter_id)
    if json:
        print_json(
            {
                "emitter": record_to_dict(hist.emitter),
                "observations": [record_to_dict(o) for o in hist.observations],
                "events": [record_to_dict(e) for e in hist.events],
            }
        )
        return
    out = Console()
    out.print(_emitter_table([hist.emitter]))
    if hist.emitter.fingerprint:
        out.print(f"fingerprint: {hist.emitter.fingerprint}")
    obs = Table(
        "time (UTC)", "session", "x stage (µm)", "y stage (µm)", "rate (/s)", "g2(0)", "outcome"
    )
    for o in hist.observations:
        obs.add_row(
            o.observed_at.isoformat(timespec="seconds"),
            "" if o.session_id is None else str(o.session_id),
            _um(o.x_stage_m),
            _um(o.y_stage_m),
            "" if o.count_rate_per_s is None else f"{o.count_rate_per_s:.4g}",
            "" if o.g2_0 is None else f"{o.g2_0:.3f}",
            o.outcome,
        )
    out.print(obs)
    for e in hist.events:
        out.print(f"{e.created_at.isoformat(timespec='seconds')} {e.kind}: {e.message}")


@registry_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Output .json (everything) or .csv (emitters).")],
    db: DbOpt,
    json: JsonOpt = False,
) -> None:
    """Export the registry to JSON or the emitter table to CSV."""
    fmt = _format(out, "OUT")
    if not out.parent.is_dir():
        fail(f"OUT={str(out)!r} is in a folder that does not exist")
    with cli_errors(), _open(db, create=False) as reg:
        n = export_json(reg, out) if fmt == "json" else export_csv(reg, out)
    result: dict[str, Any] = {"path": str(out), "format": fmt, "records": n}
    if json:
        print_json(result)
    else:
        Console().print(f"wrote {n} records to {out}")


@registry_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A registry .json export or emitter .csv.")],
    db: DbOpt,
    json: JsonOpt = False,
) -> None:
    """Import a JSON export or emitter CSV (one transaction; refuses existing IDs)."""
    fmt = _format(file, "FILE")
    if not file.is_file():
        fail(f"FILE={str(file)!r} does not exist")
    with cli_errors():  # validate the whole file before creating or touching the database
        _ = read_json(file) if fmt == "json" else read_csv(file)
    with cli_errors(), _open(db, create=True) as reg:
        n = import_json(reg, file) if fmt == "json" else import_csv(reg, file)
        counts = reg.counts()
    if json:
        print_json({"path": str(file), "format": fmt, "records": n, "counts": counts})
    else:
        Console().print(f"imported {n} records from {file}")
