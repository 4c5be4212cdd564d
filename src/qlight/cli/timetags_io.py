"""``qlight info FILE`` and ``qlight convert IN OUT``: time-tag file metadata and conversion.

``info`` prints the typed header, counts and rates per channel, the duration and the span of
the tags of a PTU or Photon-HDF5 file; ``convert`` turns a PTU file into Photon-HDF5 (T3
microtimes kept as TCSPC nanotimes) or a Photon-HDF5 file into PTU (HydraHarp V2 T2 records
by default, absolute 1 ps tags; nanotimes are not written), chosen by the output
extension. Both read the file in chunks with a progress bar on stderr.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from qlight.cli._output import cli_errors, fail, print_json, progress
from qlight.errors import ParameterError
from qlight.timetags.io import (
    SYNC_CHANNEL,
    PtuWriter,
    TTTRMetadata,
    file_kind,
    iter_channels,
    iter_ptu,
    read_header,
    write_photon_hdf5,
)
from qlight.timetags.io.ptu_write import merge_channels

__all__ = ["convert", "info"]

_PS_PER_S = 1e12
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def _scan(path: Path, meta: TTTRMetadata, show: bool) -> dict[str, Any]:
    """Counts per channel, first/last tag and marker count, read chunk by chunk."""
    counts: dict[int, int] = {}
    first: int | None = None
    last: int | None = None
    n_markers = 0
    with progress(f"reading {path.name}", max(meta.n_records, 1), enabled=show) as advance:
        if file_kind(path) == "ptu":
            for chunk in iter_ptu(path):
                for c, n in zip(*np.unique(chunk.channel, return_counts=True), strict=True):
                    counts[int(c)] = counts.get(int(c), 0) + int(n)
                if chunk.t_ps.size:
                    lo, hi = int(chunk.t_ps.min()), int(chunk.t_ps.max())
                    first = lo if first is None else min(first, lo)
                    last = hi if last is None else max(last, hi)
                n_markers += int(chunk.marker_channel.size)
                advance(chunk.n_records)
        else:
            for part in iter_channels(path):
                for c, t in part.items():
                    counts[c] = counts.get(c, 0) + int(t.size)
                    if t.size:
                        first = int(t[0]) if first is None else min(first, int(t[0]))
                        last = int(t[-1]) if last is None else max(last, int(t[-1]))
                        advance(t.size)
    return {"counts": counts, "first": first, "last": last, "n_markers": n_markers}


def info(
    file: Annotated[Path, typer.Argument(help="A PicoQuant .ptu or Photon-HDF5 file.")],
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tags: Annotated[bool, typer.Option("--tags", help="Also print every header tag.")] = False,
) -> None:
    """Header metadata, photon counts and rates per channel, and duration of a time-tag file."""
    with cli_errors():
        meta = read_header(file)
        scan = _scan(file, meta, show=not json)
    first, last = scan["first"], scan["last"]
    span_s = 0.0 if first is None or last is None else (last - first) / _PS_PER_S
    duration_s = meta.acquisition_time_s if meta.acquisition_time_s else span_s
    channels = {
        str(c): {"counts": n, "rate_per_s": n / duration_s if duration_s > 0 else None}
        for c, n in sorted(scan["counts"].items())
    }
    result: dict[str, Any] = {
        "file": str(file),
        "format": "Photon-HDF5" if meta.instrument == "Photon-HDF5" else "PTU",
        "instrument": meta.instrument,
        "record_type": meta.record_type,
        "mode": meta.mode,
        "format_version": meta.format_version,
        "resolution_ps": meta.resolution_ps,
        "global_resolution_ps": meta.global_resolution_ps,
        "sync_rate_hz": meta.sync_rate_hz,
        "acquisition_time_s": meta.acquisition_time_s,
        "n_records": meta.n_records,
        "n_channels": meta.n_channels,
        "n_photons": sum(n for c, n in scan["counts"].items() if c != SYNC_CHANNEL),
        "n_markers": scan["n_markers"],
        "channels": channels,
        "sync_channel": SYNC_CHANNEL,
        "first_t_ps": first,
        "last_t_ps": last,
        "span_s": span_s,
        "duration_s": duration_s,
    }
    if json:
        print_json({**result, "tags": meta.tags} if tags else result)
        return
    console = Console(highlight=False)
    table = Table(title=f"{file.name}: {meta.instrument} {meta.mode} ({meta.record_type})")
    table.add_column("field")
    table.add_column("value")
    for key in ("resolution_ps", "global_resolution_ps", "sync_rate_hz", "acquisition_time_s",
                "n_records", "n_photons", "n_markers", "span_s", "duration_s"):  # fmt: skip
        table.add_row(key, str(result[key]))
    for c, entry in channels.items():
        name = "sync" if int(c) == SYNC_CHANNEL else f"channel {c}"
        rate = entry["rate_per_s"]
        rate_text = "n/a" if rate is None else f"{rate:,.1f} /s"
        table.add_row(name, f"{entry['counts']:,} tags, {rate_text}")
    console.print(table)
    if tags:
        for key, value in meta.tags.items():
            console.print(f"{key} = {value!r}", markup=False)


def _ptu_to_hdf5(src: Path, dst: Path, show: bool) -> dict[str, Any]:
    """Whole-file PTU → Photon-HDF5 (the Photon-HDF5 writer takes complete arrays).

    T3 microtimes (raw dtime bins) become ``/photon_data/nanotimes`` with ``tcspc_unit`` the
    T3 resolution and ``tcspc_num_bins`` the bins of one sync period (or more, to hold the
    largest dtime).
    """
    meta = read_header(src)
    t3 = meta.mode == "T3"
    parts: dict[int, list[NDArray[np.int64]]] = {}
    dparts: dict[int, list[NDArray[np.int64]]] = {}
    with progress(f"reading {src.name}", max(meta.n_records, 1), enabled=show) as advance:
        for chunk in iter_ptu(src):
            for c in np.unique(chunk.channel).tolist():
                sel = chunk.channel == c
                t = chunk.t_ps[sel]
                order = np.argsort(t, kind="stable")
                parts.setdefault(int(c), []).append(t[order])
                if t3 and chunk.dtime is not None:
                    dparts.setdefault(int(c), []).append(chunk.dtime[sel][order])
            advance(chunk.n_records)
    ptu_channels = sorted(parts)
    chans: list[NDArray[np.int64]] = []
    nanos: list[NDArray[np.int64]] = []
    for c in ptu_channels:
        t = np.concatenate(parts[c])
        order = np.argsort(t, kind="stable")  # stable: equal tags keep file order
        chans.append(t[order])
        if t3:
            nanos.append(np.concatenate(dparts[c])[order])
    padded = len(chans) < 2
    while len(chans) < 2:  # Photon-HDF5 HBT layout needs two detectors: add empty ones
        chans.append(np.zeros(0, np.int64))
        nanos.append(np.zeros(0, np.int64))
    tcspc: dict[str, Any] = {}
    if t3:
        top = max((int(d.max()) for d in nanos if d.size), default=0)
        per_period = math.ceil(meta.global_resolution_ps / meta.resolution_ps - 1e-9)
        tcspc = {
            "nanotimes": nanos,
            "tcspc_unit_s": meta.resolution_ps / _PS_PER_S,
            "tcspc_num_bins": max(per_period, top + 1, 1),
        }
    last = max((int(c[-1]) for c in chans if c.size), default=0)
    acq_ps = round((meta.acquisition_time_s or 0.0) * _PS_PER_S)
    duration_ps = max(last, acq_ps, 1)
    params = {
        "source": str(src),
        "ptu_record_type": meta.record_type,
        "ptu_channels": ptu_channels,
        "mode": meta.mode,
        "resolution_ps": meta.resolution_ps,
        "global_resolution_ps": meta.global_resolution_ps,
    }
    write_photon_hdf5(
        dst,
        chans,
        duration_ps=duration_ps,
        description=f"converted by qlight from {src.name} ({meta.instrument} {meta.mode})",
        parameters=params,
        rep_rate_hz=meta.sync_rate_hz if meta.mode == "T3" else None,
        **tcspc,
    )
    return {
        "channels": {str(c): int(t.size) for c, t in zip(ptu_channels, chans, strict=False)},
        "detector_of_channel": {str(c): i for i, c in enumerate(ptu_channels)},
        "padded_empty_detectors": padded,
        "duration_ps": duration_ps,
        "nanotimes": t3,
        "tcspc_num_bins": tcspc.get("tcspc_num_bins"),
    }


def _hdf5_to_ptu(src: Path, dst: Path, record_type: str, show: bool) -> dict[str, Any]:
    """Streaming Photon-HDF5 → PTU T2 with 1 ps time tags (nanotimes are not written)."""
    meta = read_header(src)
    counts: dict[int, int] = {}
    n_ch = max(meta.n_channels, 1)
    with (
        progress(f"converting {src.name}", max(meta.n_records, 1), enabled=show) as advance,
        PtuWriter(
            dst, mode="T2", resolution_ps=1.0, record_type=record_type, n_channels=min(n_ch, 64),
            acquisition_time_s=meta.acquisition_time_s, comment=f"converted from {src.name}",
        ) as writer,
    ):  # fmt: skip
        for part in iter_channels(src):
            if not part:
                continue
            top = max(part)
            if min(part) < 0 or top > 63:
                raise ParameterError("detectors", top, "must be in 0..63 to fit PTU records")
            chan, t = merge_channels([part.get(c, np.zeros(0, np.int64)) for c in range(top + 1)])
            writer.write_t2_ps(chan, t)
            for c, v in part.items():
                counts[c] = counts.get(c, 0) + int(v.size)
            advance(t.size)
    return {
        "channels": {str(c): n for c, n in sorted(counts.items())},
        "n_records": writer.n_records,
    }


def convert(
    src: Annotated[Path, typer.Argument(metavar="IN", help="Input .ptu or Photon-HDF5 file.")],
    dst: Annotated[
        Path, typer.Argument(metavar="OUT", help="Output file: .h5/.hdf5 or .ptu (by extension).")
    ],
    record_type: Annotated[
        str, typer.Option("--record-type", help="PTU record family for .ptu output.")
    ] = "HydraHarp2",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Convert PTU to Photon-HDF5 or Photon-HDF5 to PTU (direction from OUT's extension)."""
    suffix = dst.suffix.lower()
    with cli_errors():
        kind = file_kind(src)
        if src.resolve() == dst.resolve():
            raise ParameterError("OUT", str(dst), "must differ from IN")
        if suffix == ".ptu" and kind == "hdf5":
            details = _hdf5_to_ptu(src, dst, record_type, show=not json)
        elif suffix in _HDF5_SUFFIXES and kind == "ptu":
            details = _ptu_to_hdf5(src, dst, show=not json)
        elif suffix not in (".ptu", *_HDF5_SUFFIXES):
            fail(f"OUT={str(dst)!r} must end in .ptu, .h5 or .hdf5")
        else:
            fail(f"IN is already {'PTU' if kind == 'ptu' else 'Photon-HDF5'}; nothing to convert")
    result = {
        "input": str(src),
        "output": str(dst),
        "from": "PTU" if kind == "ptu" else "Photon-HDF5",
        "to": "PTU" if suffix == ".ptu" else "Photon-HDF5",
        **details,
    }
    if json:
        print_json(result)
        return
    Console(highlight=False).print(
        f"{result['from']} {src} → {result['to']} {dst}: "
        + ", ".join(f"channel {c}: {n:,}" for c, n in result["channels"].items()),
        markup=False,
    )
