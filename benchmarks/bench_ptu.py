"""Benchmark: PTU decoding throughput (records/s) of qlight vs tttrlib and ptufile.

Writes large HydraHarp V2 T2 and T3 files with qlight's own writer (two detectors at equal
rates, random arrival gaps; multi-overflow records where gaps exceed an overflow period), then
reads each file, best of 3, with

* qlight ``iter_ptu`` (chunked decoding to channel + absolute ps, the streaming path),
* qlight ``read_ptu`` (whole file into sorted per-channel int64 ps arrays),
* tttrlib ``TTTR(path, "PTU")`` (macro/micro times, routing channels, event types),
* ptufile ``PtuFile(path).decode_records()`` (structured time/dtime/channel/marker array),

and measures the peak RSS of a streaming pass (``iter_channels``) in a fresh process. With
``--big-gb N`` it also writes an N GB file and measures that pass's peak RSS (the 10 GB
demonstration: ``--big-gb 10``; needs N GB of free space in ``--tmp``). Prints a table and
rewrites its own section of ``docs/benchmarks.md``.

Run: ``.venv/bin/python benchmarks/bench_ptu.py [--records 50000000] [--big-gb 0] [--no-write]``.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

import _docs
from qlight.timetags.io import PtuWriter, iter_ptu, read_ptu

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_ptu: begin (written by benchmarks/bench_ptu.py) -->"
END = "<!-- bench_ptu: end -->"
BLOCK = 2_000_000


def write_file(path: Path, n_records: int, mode: str, seed: int = 1) -> int:
    """A HydraHarp V2 file of about ``n_records`` records; returns the exact record count."""
    rng = np.random.default_rng(seed)
    kwargs: dict[str, object] = (
        {"mode": "T2", "resolution_ps": 1.0}
        if mode == "T2"
        else {"mode": "T3", "resolution_ps": 1.0, "sync_period_ps": 12_500.0}
    )
    with PtuWriter(path, record_type="HydraHarp2", **kwargs) as w:  # type: ignore[arg-type]
        t0 = 0
        while w.n_records < n_records:
            n = min(BLOCK, n_records - w.n_records)
            chan = rng.integers(0, 2, n)
            if mode == "T2":  # 1 Mcps per channel: mean gap 500 ns, 1 ps tags
                t = t0 + np.cumsum(rng.integers(1, 1_000_000, n))
                w.write(chan, t)
            else:  # 80 MHz sync, ~1 photon per 40 syncs; microtime in [0, 12.5 ns)
                t = t0 + np.cumsum(rng.integers(0, 80, n))
                w.write(chan, t, rng.integers(0, 12_500, n))
            t0 = int(t[-1])
        return w.n_records


def _best(fn: Callable[[], int], repeats: int = 3) -> tuple[int, float]:
    fn()  # warm: numba compilation, page cache
    best, count = math.inf, 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return count, best


def _qlight_iter(path: Path) -> int:
    return sum(c.t_ps.size for c in iter_ptu(path))


def _qlight_read(path: Path) -> int:
    return sum(t.size for t in read_ptu(path)[1].values())


def _tttrlib(path: Path) -> int:
    import tttrlib  # benchmark-only peer

    return len(tttrlib.TTTR(str(path), "PTU").macro_times)


def _ptufile(path: Path) -> int:
    import ptufile  # benchmark-only peer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ptufile.PtuFile(path) as f:
            return int(f.decode_records().size)


_RSS_SCRIPT = """
import sys, time
from qlight.timetags.io import iter_channels

def hwm_kb():  # peak RSS of this process image (VmHWM, reset at exec unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1

base = hwm_kb()
t0 = time.perf_counter()
n = sum(sum(v.size for v in ch.values()) for ch in iter_channels(sys.argv[1]))
dt = time.perf_counter() - t0
print(n, base, hwm_kb(), dt)
"""


def streaming_rss(path: Path) -> tuple[int, float, float, float]:
    """(tags, peak RSS after imports MB, peak RSS MB, seconds) of iter_channels, new process."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return int(out[0]), int(out[1]) / 1024, int(out[2]) / 1024, float(out[3])


def _machine() -> str:
    return _docs.machine("shared with other jobs", np, numba)


def run(n_records: int, tmp: Path, big_gb: float) -> str:
    import ptufile
    import tttrlib

    lines = [
        f"HydraHarp V2 files of {n_records / 1e6:.0f} M records written by `PtuWriter`; "
        "best of 3 after one warm-up read (file in the page cache). records/s = records in "
        "the file / wall time.",
        "",
        "| file | reader | events | time (s) | records/s (M) | vs tttrlib |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rss_rows = []
    for mode in ("T2", "T3"):
        path = tmp / f"bench_{mode}.ptu"
        n = write_file(path, n_records, mode)
        size_mb = path.stat().st_size / 2**20
        rows = [(name, *_best(lambda f=fn, p=path: f(p))) for name, fn in (
            ("qlight iter_ptu (streaming)", _qlight_iter),
            ("qlight read_ptu (per-channel arrays)", _qlight_read),
            (f"tttrlib {tttrlib.__version__} TTTR", _tttrlib),
            (f"ptufile {ptufile.__version__} decode_records", _ptufile),
        )]  # fmt: skip
        ref = next(r for r in rows if r[0].startswith("tttrlib"))
        for name, count, secs in rows:
            lines.append(
                f"| {mode}, {size_mb:.0f} MB | {name} | {count:,} | {secs:.3f} | "
                f"{n / secs / 1e6:.0f} | {ref[2] / secs:.2f}× |"
            )
            print(lines[-1], flush=True)
        rss_rows.append((f"{mode}, {size_mb:.0f} MB", *streaming_rss(path)))
        path.unlink()
    if big_gb > 0:
        path = tmp / "bench_big.ptu"
        write_file(path, int(big_gb * 2**30 / 4), "T2")
        rss_rows.append((f"T2, {path.stat().st_size / 2**30:.1f} GB", *streaming_rss(path)))
        path.unlink()
    lines += [
        "",
        "Streaming memory: `iter_channels` (4 M records per chunk) over the whole file in a "
        "fresh process; peak RSS is the process's `VmHWM` (includes the interpreter, numpy, "
        "numba, h5py and the other imports).",
        "",
        "| file | tags | RSS after imports (MB) | peak RSS (MB) | time (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, tags, base, peak, secs in rss_rows:
        lines.append(f"| {name} | {tags:,} | {base:.0f} | {peak:.0f} | {secs:.2f} |")
    load = os.getloadavg()[0]
    lines += [
        "",
        f"Machine: {_machine()}; 1-minute load average {load:.1f} at the end of the run. On "
        "this shared machine repeated runs vary by up to 2x (tttrlib and the whole-file "
        "readers most, being allocation-bound); compare ratios within one run.",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    body = f"{BEGIN}\n## PTU decoding (`benchmarks/bench_ptu.py`)\n\n{text}\n{END}"
    _docs.replace_section(BEGIN, END, body, DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000_000, help="records per file")
    parser.add_argument("--big-gb", type=float, default=0.0, help="also stream an N GB file")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the files")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        text = run(args.records, Path(tmp), args.big_gb)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
