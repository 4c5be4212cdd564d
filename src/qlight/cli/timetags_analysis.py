"""``qlight g2 | lifetime | trace FILE``: analyses of PTU and Photon-HDF5 time-tag files.

Every command reads the file chunk by chunk (bounded memory, progress bar on stderr),
prints a rich summary or, with ``--json``, one JSON object; bad input exits with code 2 and
a one-line message naming the file. The kernels and their references are in
:mod:`qlight.timetags` (see ``docs/timetags-analysis.md``).
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
from qlight.timetags.g2 import g2_at_zero, g2_cw_from_counts
from qlight.timetags.g2_pulsed import g2_pulsed_from_counts, pulsed_peak_histogram
from qlight.timetags.io import DEFAULT_CHUNK_RECORDS, read_header
from qlight.timetags.streaming import correlate_file, lifetime_file, trace_file
from qlight.timetags.trace import photon_counting_histogram

__all__ = ["g2", "lifetime", "trace"]

FileArg = Annotated[Path, typer.Argument(help="PTU or Photon-HDF5 file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.")]
ChunkOpt = Annotated[
    int, typer.Option("--chunk-records", help="Records per chunk (memory bound).", min=1)
]


def _check_file(path: Path) -> int:
    """Return the number of records (progress total); fail naming the file otherwise."""
    if not path.is_file():
        fail(f"{path}: no such file")
    return max(read_header(path).n_records, 1)


def _channels(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise ParameterError("--channels", text, "must be two integers A,B") from None
    if len(parts) != 2 or parts[0] == parts[1]:
        raise ParameterError("--channels", text, "must be two different channels A,B")
    return parts[0], parts[1]


def _plot(
    path: Path, x: NDArray[Any], y: NDArray[Any], xlabel: str, ylabel: str, log: bool
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, y, drawstyle="steps-mid", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise ParameterError("--plot", str(path), f"cannot be written ({exc.strerror})") from None
    finally:
        plt.close(fig)


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False)
    for k, v in rows:
        table.add_row(k, v)
    Console().print(table)


def g2(
    file: FileArg,
    channels: Annotated[str, typer.Option("--channels", help="Channels A,B.")] = "0,1",
    window_ns: Annotated[float, typer.Option("--window-ns", help="Half range (ns).")] = 100.0,
    bin_ps: Annotated[int, typer.Option("--bin-ps", help="Bin width (ps).")] = 100,
    delay_ps: Annotated[int, typer.Option("--delay-ps", help="Delay of channel B.")] = 0,
    pulsed: Annotated[bool, typer.Option("--pulsed", help="Pulsed excitation.")] = False,
    rep_rate_mhz: Annotated[
        float | None, typer.Option("--rep-rate-mhz", help="Repetition rate (pulsed).")
    ] = None,
    integration_ps: Annotated[
        int | None, typer.Option("--integration-ps", help="Peak window (default: period).")
    ] = None,
    side_peaks: Annotated[int, typer.Option("--side-peaks", help="Side peaks per side.")] = 5,
    normalization: Annotated[
        str, typer.Option("--normalization", help="Pulsed: side_peaks or poisson.")
    ] = "side_peaks",
    json: JsonOpt = False,
    plot: PlotOpt = None,
    chunk_records: ChunkOpt = DEFAULT_CHUNK_RECORDS,
) -> None:
    """Normalised g2(τ) of two channels (CW, or pulsed with --pulsed --rep-rate-mhz)."""
    with cli_errors():
        ch_a, ch_b = _channels(channels)
        total = _check_file(file)
        window = round(window_ns * 1000)
        if window <= 0 or not math.isclose(window, window_ns * 1000, abs_tol=1e-6):
            raise ParameterError("--window-ns", window_ns, "must be a positive whole number of ps")
        extra: dict[str, dict[str, int]] = {}
        period = 0
        if pulsed:
            if rep_rate_mhz is None or not rep_rate_mhz > 0:
                raise ParameterError("--rep-rate-mhz", rep_rate_mhz, "must be > 0 with --pulsed")
            period = round(1e6 / rep_rate_mhz)
            integration = period if integration_ps is None else integration_ps
            p_window, p_step, p_delay = pulsed_peak_histogram(
                period_ps=period, n_side_peaks=side_peaks, integration_ps=integration
            )
            extra["peaks"] = {
                "window_ps": p_window,
                "bin_ps": p_step,
                "delay_b_ps": delay_ps + p_delay,
            }
            half_span = (2 * side_peaks + 1) * period // 2
            window = -(-half_span // bin_ps) * bin_ps if bin_ps > 0 else window
        with progress("correlating", total, enabled=not json) as advance:
            res = correlate_file(
                file,
                channel_a=ch_a,
                channel_b=ch_b,
                window_ps=window,
                bin_ps=bin_ps,
                delay_b_ps=delay_ps,
                extra=extra,
                chunk_records=chunk_records,
                on_chunk=advance,
            )
        out: dict[str, Any] = {
            "file": str(file),
            "channels": [ch_a, ch_b],
            "n_a": res.n_a,
            "n_b": res.n_b,
            "duration_ps": res.duration_ps,
            "bin_ps": bin_ps,
            "window_ps": window,
        }
        if pulsed:
            p_lags, p_counts = res.extra["peaks"]
            pr = g2_pulsed_from_counts(
                res.lags_ps,
                res.counts,
                p_lags,
                p_counts,
                n_a=res.n_a,
                n_b=res.n_b,
                duration_ps=res.duration_ps,
                period_ps=period,
                integration_ps=integration,
                normalization=normalization,
            )
            out.update(
                mode="pulsed",
                normalization=pr.normalization,
                normalization_formula=(
                    "peak area / mean side-peak area"
                    if normalization == "side_peaks"
                    else "peak area / (N1*N2/(f_rep*T))"
                ),
                period_ps=period,
                integration_ps=pr.integration_ps,
                g2_0=pr.g2_0,
                g2_0_err=pr.g2_0_err,
                peak_k=pr.peak_k,
                peak_counts=pr.peak_counts,
                peak_g2=pr.peak_g2,
                peak_g2_err=pr.peak_g2_err,
                lags_ps=pr.lags_ps,
                counts=pr.counts,
                g2=pr.g2,
                g2_err=pr.g2_err,
            )
        else:
            h = g2_cw_from_counts(
                res.lags_ps, res.counts, n_a=res.n_a, n_b=res.n_b, duration_ps=res.duration_ps
            )
            g0, g0_err = g2_at_zero(h, half_width_ps=(bin_ps + 1) // 2)
            out.update(
                mode="cw",
                normalization="cw",
                normalization_formula="N1*N2*bin*(T-|tau|)/T^2",
                g2_0=g0,
                g2_0_err=g0_err,
                g2_0_half_width_ps=(bin_ps + 1) // 2,
                lags_ps=h.lags_ps,
                counts=h.counts,
                g2=h.g2,
                g2_err=h.g2_err,
            )
        if plot is not None:
            centers = (np.asarray(out["lags_ps"]) + bin_ps / 2) / 1000.0
            _plot(plot, centers, np.asarray(out["g2"]), "delay τ (ns)", "g2(τ)", False)
    if json:
        print_json(out)
        return
    _table(
        f"g2 of {file.name}, channels {ch_a},{ch_b} ({out['mode']})",
        [
            ("tags A / B", f"{res.n_a} / {res.n_b}"),
            ("duration", f"{res.duration_ps / 1e12:.6g} s"),
            ("bins", f"{len(out['counts'])} × {bin_ps} ps"),
            ("normalisation", str(out["normalization_formula"])),
            ("g2(0)", f"{out['g2_0']:.4g} ± {out['g2_0_err']:.2g}"),
        ],
    )


def lifetime(
    file: FileArg,
    channel: Annotated[int, typer.Option("--channel", help="Detector channel.")] = 0,
    bin_ps: Annotated[int, typer.Option("--bin-ps", help="Bin width (ps).")] = 64,
    range_ns: Annotated[
        float | None, typer.Option("--range-ns", help="Range (default: sync period).")
    ] = None,
    json: JsonOpt = False,
    plot: PlotOpt = None,
    chunk_records: ChunkOpt = DEFAULT_CHUNK_RECORDS,
) -> None:
    """TCSPC lifetime histogram (T3 microtimes, T2 against the sync, Photon-HDF5 nanotimes)."""
    with cli_errors():
        total = _check_file(file)
        range_ps = None if range_ns is None else round(range_ns * 1000)
        with progress("histogramming", total, enabled=not json) as advance:
            h = lifetime_file(
                file,
                channel=channel,
                bin_ps=bin_ps,
                range_ps=range_ps,
                chunk_records=chunk_records,
                on_chunk=advance,
            )
        peak = int(np.argmax(h.counts))
        out = {
            "file": str(file),
            "channel": channel,
            "bin_ps": h.bin_ps,
            "range_ps": h.range_ps,
            "n_photons": h.n_photons,
            "n_outside": h.n_outside,
            "peak_ps": int(h.t_ps[peak]),
            "t_ps": h.t_ps,
            "counts": h.counts,
        }
        if plot is not None:
            _plot(plot, (h.t_ps + h.bin_ps / 2) / 1000.0, h.counts, "delay (ns)", "counts", True)
    if json:
        print_json(out)
        return
    _table(
        f"lifetime histogram of {file.name}, channel {channel}",
        [
            ("photons", f"{h.n_photons} ({h.n_outside} outside the range)"),
            ("bins", f"{h.counts.size} × {h.bin_ps} ps"),
            ("peak", f"{int(h.t_ps[peak])} ps ({int(h.counts[peak])} counts)"),
        ],
    )


def trace(
    file: FileArg,
    bin_ms: Annotated[float, typer.Option("--bin-ms", help="Bin width (ms).")] = 10.0,
    channels: Annotated[
        str | None, typer.Option("--channels", help="Channels to add (default all).")
    ] = None,
    json: JsonOpt = False,
    plot: PlotOpt = None,
    chunk_records: ChunkOpt = DEFAULT_CHUNK_RECORDS,
) -> None:
    """Intensity time trace and photon-counting histogram (detector channels summed)."""
    with cli_errors():
        total = _check_file(file)
        bin_ps = round(bin_ms * 1e9)
        if bin_ps <= 0:
            raise ParameterError("--bin-ms", bin_ms, "must be > 0")
        chans = None
        if channels is not None:
            try:
                chans = tuple(int(c) for c in channels.split(","))
            except ValueError:
                raise ParameterError("--channels", channels, "must be integers A,B,…") from None
        with progress("binning", total, enabled=not json) as advance:
            tr = trace_file(
                file, bin_ps=bin_ps, channels=chans, chunk_records=chunk_records, on_chunk=advance
            )
        k, occ = photon_counting_histogram(tr.counts)
        rate = tr.rate_per_s
        out = {
            "file": str(file),
            "bin_ps": tr.bin_ps,
            "n_bins": int(tr.counts.size),
            "n_outside": tr.n_outside,
            "mean_rate_per_s": float(rate.mean()) if rate.size else math.nan,
            "t_ps": tr.t_ps,
            "counts": tr.counts,
            "pch_k": k,
            "pch_occurrences": occ,
        }
        if plot is not None:
            _plot(plot, tr.t_ps / 1e12, rate, "time (s)", "rate (counts/s)", False)
    if json:
        print_json(out)
        return
    _table(
        f"intensity trace of {file.name}",
        [
            ("bins", f"{tr.counts.size} × {bin_ms:g} ms"),
            ("photons", f"{int(tr.counts.sum())} ({tr.n_outside} outside whole bins)"),
            ("mean rate", f"{out['mean_rate_per_s']:.4g} counts/s"),
            ("max counts per bin", f"{int(k[-1]) if k.size else 0}"),
        ],
    )
