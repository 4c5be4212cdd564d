"""``qlight characterize FILES… --report OUT.html [--json]``: the emitter certificate.

The first file is the acquisition that is characterized (g2, lifetime with a laser sync, count
rate, stability). With ``--powers-mw`` (one power per file) the count rates of all files form
the saturation series. ``--emitter ID`` instead characterizes an emitter of the running device
(``qlight run``): :mod:`qlight.cli._characterize_emitter`. See ``docs/characterization.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from qlight.characterization.certificate import (
    RESULT_KEYS,
    Certificate,
    CertificateSettings,
    PolarizationSeries,
    SpectrumData,
    characterize_tags,
    file_sha256,
)
from qlight.characterization.report import LABELS, render_html
from qlight.characterization.saturation import SaturationSeries
from qlight.characterization.uncertainty import Estimate
from qlight.cli._output import cli_errors, fail, print_json, progress
from qlight.errors import ParameterError
from qlight.timetags.io import iter_channels, read_header
from qlight.timetags.lifetime import lifetime_histogram_t2
from qlight.timetags.streaming import file_duration_ps

__all__ = ["characterize", "show_certificate"]

_SYNC = -1


def _read(path: Path, channels: tuple[int, int], advance: Callable[[float], None]) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.int64] | None, int, float | None
]:  # fmt: skip
    if not path.is_file():
        fail(f"{path}: no such file")
    meta = read_header(path)
    parts: dict[int, list[NDArray[np.int64]]] = {channels[0]: [], channels[1]: [], _SYNC: []}
    for chunk in iter_channels(path):
        for ch, t in chunk.items():
            if ch in parts:
                parts[ch].append(t)
        advance(sum(int(t.size) for t in chunk.values()))
    a, b, s = (
        np.concatenate(parts[k]) if parts[k] else np.zeros(0, dtype=np.int64)
        for k in (channels[0], channels[1], _SYNC)
    )
    firsts = [int(x[0]) for x in (a, b) if x.size]
    lasts = [int(x[-1]) for x in (a, b) if x.size]
    dur = file_duration_ps(path, min(firsts, default=None), max(lasts, default=None))
    rate = meta.sync_rate_hz
    period = None if rate is None or rate <= 0 else 1e12 / rate
    sync: NDArray[np.int64] | None = None
    if s.size:
        sync = s
    elif period is not None:
        # A file with a repetition rate but no sync records (Photon-HDF5 of the twin): pulses
        # at k · period from the acquisition start, as the twin writes them.
        sync = np.round(np.arange(0.0, float(dur), period)).astype(np.int64)
    return a, b, sync, dur, period


def _channels(text: str) -> tuple[int, int]:
    try:
        a, b = (int(p) for p in text.split(","))
    except ValueError:
        raise ParameterError("--channels", text, "must be two integers A,B") from None
    if a == b:
        raise ParameterError("--channels", text, "must be two different channels")
    return a, b


def _settings(
    irf_sigma_ps: float,
    background_cps: float,
    g2_window_ns: float,
    g2_bin_ps: int,
    trace_bin_ms: float,
) -> CertificateSettings:
    """The analysis settings from the CLI options (both modes); the g2 half range is
    rounded to a whole number of bins."""
    if g2_bin_ps <= 0:
        raise ParameterError("--g2-bin-ps", g2_bin_ps, "must be a positive integer")
    return CertificateSettings(
        irf_sigma_ps=irf_sigma_ps,
        background_cps=background_cps,
        g2_window_ps=round(g2_window_ns * 1000 / g2_bin_ps) * g2_bin_ps,
        g2_bin_ps=g2_bin_ps,
        trace_bin_s=trace_bin_ms * 1e-3,
    )


def _powers_w(powers_mw: str | None) -> list[float] | None:
    """``--powers-mw`` ("a,b,...", mW) in W; None when not given."""
    if powers_mw is None:
        return None
    try:
        return [float(p) * 1e-3 for p in powers_mw.split(",")]
    except ValueError:
        raise ParameterError("--powers-mw", powers_mw, "must be numbers") from None


def _polarization(path: Path) -> PolarizationSeries:
    """Read ``angle_deg,counts,duration_s`` rows (a header line is allowed)."""
    try:
        rows = [
            line.split(",")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip()[0].isalpha()
        ]
        data = np.asarray(rows, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ParameterError("--polarization-csv", str(path), f"unreadable ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3:
        raise ParameterError("--polarization-csv", str(path), "needs 3 columns per row")
    return PolarizationSeries(
        np.radians(data[:, 0]), data[:, 1].astype(np.int64), data[:, 2].astype(np.float64)
    )


def _csv(path: Path, option: str) -> NDArray[np.float64]:
    """Numeric CSV rows (a header line is allowed) as a 2-D array."""
    try:
        rows = [
            line.split(",")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip()[0].isalpha()
        ]
        data = np.asarray(rows, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ParameterError(option, str(path), f"unreadable ({exc})") from None
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0 or not np.all(np.isfinite(data)):
        raise ParameterError(option, str(path), "needs numeric rows")
    return data


def _spectrum(path: Path, resolution_nm: float | None, band: str | None) -> SpectrumData:
    data = _csv(path, "--spectrum-csv")
    if data.shape[1] != 2 or data.shape[0] < 16:
        raise ParameterError("--spectrum-csv", str(path), "needs >= 16 rows wavelength_nm,counts")
    if resolution_nm is None:
        raise ParameterError("--spectrum-resolution-nm", None, "is required with --spectrum-csv")
    band_nm = None
    if band is not None:
        try:
            lo, hi = (float(v) for v in band.split(","))
        except ValueError:
            raise ParameterError("--spectrum-band-nm", band, "must be LO,HI in nm") from None
        band_nm = (lo, hi)
    return SpectrumData(data[:, 0], data[:, 1], float(resolution_nm), band_nm)


def _irf(path: Path, ch: tuple[int, int], bin_ps: int, period: float | None) -> NDArray[np.float64]:
    """A measured IRF: CSV of counts per bin (or time_ps,counts rows), or a time-tag file of
    scattered laser light histogrammed against its sync like the data."""
    if not path.is_file():
        fail(f"{path}: no such file")
    if path.suffix.lower() in (".csv", ".txt"):
        data = _csv(path, "--irf")
        return np.asarray(data[:, -1], dtype=np.float64)
    a, b, sync, _dur, p = _read(path, ch, lambda _n: None)
    per = period if period is not None else p
    if sync is None or per is None:
        raise ParameterError("--irf", str(path), "has no laser sync or repetition rate")
    range_ps = round(per) // bin_ps * bin_ps
    merged = np.sort(np.concatenate([a, b]), kind="stable")
    h = lifetime_histogram_t2(sync, merged, bin_ps=bin_ps, range_ps=range_ps)
    return np.asarray(h.counts, dtype=np.float64)


def characterize(
    report: Annotated[Path, typer.Option("--report", help="HTML report to write.")],
    files: Annotated[
        list[Path] | None, typer.Argument(help="PTU or Photon-HDF5 files (or --emitter).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    channels: Annotated[str, typer.Option("--channels", help="Detector channels A,B.")] = "0,1",
    irf_sigma_ps: Annotated[
        float,
        typer.Option("--irf-sigma-ps", help="Combined timing response √(σ1²+σ2²) (ps)."),
    ] = 0.0,
    background_cps: Annotated[
        float, typer.Option("--background-cps", help="Background per detector (1/s).")
    ] = 0.0,
    powers_mw: Annotated[
        str | None,
        typer.Option("--powers-mw", help="Laser power of each file (mW), comma separated."),
    ] = None,
    g2_window_ns: Annotated[float, typer.Option("--g2-window-ns", help="g2 half range.")] = 200.0,
    g2_bin_ps: Annotated[int, typer.Option("--g2-bin-ps", help="g2 bin (ps).")] = 200,
    trace_bin_ms: Annotated[float, typer.Option("--trace-bin-ms", help="Trace bin.")] = 1.0,
    polarization_csv: Annotated[
        Path | None,
        typer.Option(
            "--polarization-csv", help="Analyser series: CSV angle_deg,counts,duration_s."
        ),
    ] = None,
    spectrum_csv: Annotated[
        Path | None,
        typer.Option("--spectrum-csv", help="Spectrum: CSV wavelength_nm,counts (linear grid)."),
    ] = None,
    spectrum_resolution_nm: Annotated[
        float | None,
        typer.Option("--spectrum-resolution-nm", help="Spectrometer instrument FWHM (nm)."),
    ] = None,
    spectrum_band_nm: Annotated[
        str | None,
        typer.Option("--spectrum-band-nm", help="Band LO,HI (nm) of a flat background level."),
    ] = None,
    irf: Annotated[
        Path | None,
        typer.Option("--irf", help="Measured IRF: CSV counts per lifetime bin, or PTU/HDF5."),
    ] = None,
    emitter: Annotated[
        str | None,
        typer.Option("--emitter", help="Characterize this emitter of the running device."),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", help="The running device's address (with --emitter).")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None,
        typer.Option("--token", help="API token [default: $QLIGHT_API_TOKEN or data-dir file]."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The device's data dir (its api_token file).")
    ] = Path("./qlight-data"),
    hbt_s: Annotated[float, typer.Option("--hbt-s", help="CW HBT duration (s).")] = 5.0,
    pulsed_s: Annotated[float, typer.Option("--pulsed-s", help="Pulsed duration (s).")] = 2.0,
    spectrum_s: Annotated[float, typer.Option("--spectrum-s", help="Spectrum exposure.")] = 2.0,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="Give up on the job after (wall s).")
    ] = 600.0,
) -> None:
    """Characterize an emitter from time-tag files, or with --emitter ID on the running device:
    results with 95 % intervals, HTML report."""
    if emitter is not None:
        from qlight.cli._characterize_emitter import characterize_emitter

        if files:
            fail("give FILES or --emitter, not both")
        characterize_emitter(
            emitter, report=report, json=json, url=url, token=token, data_dir=data_dir,
            channels=channels, irf_sigma_ps=irf_sigma_ps, background_cps=background_cps,
            powers_mw=powers_mw, g2_window_ns=g2_window_ns, g2_bin_ps=g2_bin_ps,
            trace_bin_ms=trace_bin_ms, hbt_s=hbt_s, pulsed_s=pulsed_s, spectrum_s=spectrum_s,
            timeout_s=timeout_s,
        )  # fmt: skip
        return
    if not files:
        fail("give the time-tag FILES, or --emitter ID of the running device")
    with cli_errors():
        ch = _channels(channels)
        settings = _settings(irf_sigma_ps, background_cps, g2_window_ns, g2_bin_ps, trace_bin_ms)
        powers = _powers_w(powers_mw)
        if powers is not None and len(powers) != len(files):
            raise ParameterError(
                "--powers-mw", powers_mw, f"needs one power per file ({len(files)})"
            )
        for f in files:
            if not f.is_file():
                fail(f"{f}: no such file")
        total = sum(max(read_header(f).n_records, 1) for f in files)
        counts: list[int] = []
        durations: list[float] = []
        with progress("reading", total, enabled=not json) as advance:
            first = _read(files[0], ch, advance)
            counts.append(int(first[0].size + first[1].size))
            durations.append(first[3] * 1e-12)
            for f in files[1:]:
                a, b, _s, dur, _p = _read(f, ch, advance)
                counts.append(int(a.size + b.size))
                durations.append(dur * 1e-12)
        series = None
        if powers is not None:
            series = SaturationSeries(
                np.asarray(powers), np.asarray(counts, dtype=np.int64), np.asarray(durations)
            )
        pol = None if polarization_csv is None else _polarization(polarization_csv)
        spec = None
        if spectrum_csv is not None:
            spec = _spectrum(spectrum_csv, spectrum_resolution_nm, spectrum_band_nm)
        a, b, sync, dur, period = first
        irf_counts = None
        if irf is not None:
            irf_counts = _irf(irf, ch, settings.lifetime_bin_ps, period)
        extra = [p for p in (spectrum_csv, irf, polarization_csv) if p is not None]
        prov = {
            "files": [{"path": str(f), "sha256": file_sha256(f)} for f in files],
            "inputs": [{"path": str(f), "sha256": file_sha256(f)} for f in extra],
            "channels": list(ch),
            "command": "qlight characterize",
        }
        cert = characterize_tags(
            a, b, duration_ps=dur, settings=settings, sync_ps=sync, period_ps=period,
            saturation=series, polarization=pol, provenance=prov, spectrum=spec,
            irf_counts=irf_counts,
        )  # fmt: skip
        try:
            report.write_text(render_html(cert), encoding="utf-8")
        except OSError as exc:
            raise ParameterError("--report", str(report), f"cannot be written ({exc})") from None
    show_certificate(cert, report, json=json, title=f"Certificate of {files[0].name}")


def show_certificate(
    cert: Certificate,
    report: Path,
    *,
    json: bool,
    title: str,
    extra: dict[str, object] | None = None,
) -> None:
    """Print the certificate: one JSON object (``--json``, with ``extra``) or a table."""
    out = cert.as_json()
    out["report"] = str(report)
    out.update(extra or {})
    if json:
        print_json(out)
        return
    table = Table(title=title)
    for col in ("quantity", "value", "95 % interval", "unit"):
        table.add_column(col)
    for k in RESULT_KEYS:
        r = cert.results[k]
        if isinstance(r, Estimate):
            table.add_row(
                LABELS[k], f"{r.value:.4g}", f"[{r.ci95[0]:.4g}, {r.ci95[1]:.4g}]", r.unit
            )
        else:
            table.add_row(LABELS[k], "—", r.reason, r.unit)
    console = Console()
    console.print(table)
    console.print(f"report: {report}")
