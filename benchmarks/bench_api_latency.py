"""REST latency and WebSocket update rate of the real ``qlight run`` while EMITTING.

Issue 5 goals: API p99 latency < 50 ms at 200 requests/s on loopback while EMITTING;
dashboard (stream) updates ≥ 2 Hz; the service answers within 1 s of start.

* ``qlight run --port 0 --scpi-port 0`` is started in a subprocess with a fresh data
  directory and ``--pace fast`` (first boot: MAPPING, then EMITTING), stopped with SIGTERM
  and restarted with ``--pace realtime`` (the registry exists: the return path), and each
  boot is driven over loopback.
* Load: an **open-loop** generator (raw HTTP/1.1 keep-alive on asyncio streams) schedules
  ``GET /api/v1/device`` at exactly ``rate`` per second for ``duration`` seconds. Latency is
  measured from the *scheduled* send time, so a stalled server cannot hide its backlog
  (no coordinated omission); the service time from the actual send is reported too.
* Peer, same run, same generator: a bare FastAPI app on uvicorn (same server options) that
  returns a constant JSON object of the same size — the floor of the web stack on this
  machine, so the table shows what the device service itself adds.
* Stream: one WebSocket client counts ``status`` messages for ``ws_seconds`` and reports
  their rate and the largest gap between two of them.
* Start-up: wall time from spawning ``qlight run`` to its printed URLs, to the first HTTP
  answer, and to EMITTING; and the device's own ``power_on_to_emitting_s`` (simulated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi
import httpx
import numpy as np
import uvicorn
from websockets.sync.client import connect

import _docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.system._server import start_server, wait_for_state  # noqa: E402

BEGIN = "<!-- api: begin -->"
END = "<!-- api: end -->"

_PEER_APP = textwrap.dedent(
    """
    import socket, sys, json
    import uvicorn
    from fastapi import FastAPI
    body = json.loads(sys.argv[1])
    app = FastAPI()
    @app.get("/api/v1/device")
    def device() -> dict:
        return body
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            ws="websockets-sansio")
    uvicorn.Server(config).run(sockets=[sock])
    """
)


@dataclass
class Load:
    name: str
    latency_ms: np.ndarray  # from the scheduled send time
    service_ms: np.ndarray  # from the actual send time
    errors: int
    achieved_per_s: float

    def row(self) -> str:
        lat, svc = self.latency_ms, self.service_ms
        return (
            f"| {self.name} | {self.achieved_per_s:.0f} | {len(lat)} | {self.errors} "
            f"| {np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} | {lat.max():.1f} "
            f"| {np.percentile(svc, 50):.1f} | {np.percentile(svc, 99):.1f} |"
        )


class _Conn:
    """One keep-alive HTTP/1.1 connection (raw asyncio streams: a client that costs little)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def _open_loop(
    url: str, rate: float, duration_s: float, max_conns: int = 64
) -> tuple[list[float], list[float], int, float]:
    """Send ``GET url`` at exactly ``rate``/s; a request waits only for a free connection."""
    u = httpx.URL(url)
    host, port = str(u.host), int(u.port or 80)
    request = f"GET {u.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    idle: asyncio.Queue[_Conn] = asyncio.Queue()
    conns: list[_Conn] = []

    async def new_conn() -> _Conn:
        c = _Conn(*await asyncio.open_connection(host, port))
        conns.append(c)
        return c

    for _ in range(8):
        c = await new_conn()
        for _ in range(5):  # warm up
            await c.get(request)
        idle.put_nowait(c)
    n = int(rate * duration_s)
    lat: list[float] = []
    svc: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(scheduled: float, conn: _Conn) -> None:
        nonlocal errors
        sent = loop.time()
        try:
            ok = await conn.get(request) == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        done = loop.time()
        if ok:
            lat.append((done - scheduled) * 1e3)
            svc.append((done - sent) * 1e3)
            idle.put_nowait(conn)
        else:
            errors += 1
            conn.writer.close()

    tasks = []
    for i in range(n):
        scheduled = t0 + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        if idle.empty() and len(conns) < max_conns:
            conn = await new_conn()
        else:
            conn = await idle.get()
        tasks.append(asyncio.create_task(one(scheduled, conn)))
    await asyncio.gather(*tasks)
    achieved = n / (loop.time() - t0)
    for c in conns:
        c.writer.close()
    return lat, svc, errors, achieved


def measure_load(name: str, url: str, rate: float, duration_s: float) -> Load:
    lat, svc, errors, achieved = asyncio.run(_open_loop(url, rate, duration_s))
    return Load(name, np.asarray(lat), np.asarray(svc), errors, achieved)


def measure_stream(ws_url: str, seconds: float) -> tuple[float, float]:
    """Status messages per second and the largest gap between two (s)."""
    times: list[float] = []
    with connect(ws_url, open_timeout=10.0) as ws:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            msg = json.loads(ws.recv(timeout=10.0))
            if msg["type"] == "status":
                times.append(time.monotonic())
    gaps = np.diff(times)
    return (len(times) - 1) / (times[-1] - times[0]), float(gaps.max())


def start_peer(body: dict[str, Any]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _PEER_APP, json.dumps(body)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    url = f"http://127.0.0.1:{port}/api/v1/device"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2.0)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


@dataclass
class Boot:
    pace: str
    t_print_s: float
    t_answer_s: float
    t_emitting_s: float
    power_on_to_emitting_s: float
    load: Load
    ws_hz: float
    ws_gap_s: float
    exit_code: int
    body: dict[str, Any]


def boot(data: Path, pace: str, seed: int, rate: float, duration_s: float, ws_s: float) -> Boot:
    args = ["--twin-seed", str(seed), "--pace", pace]
    with start_server(data, args=args, timeout_s=300) as srv:
        t_print = srv.printed_at - srv.started_at
        httpx.get(f"{srv.api}/device", timeout=10.0).raise_for_status()
        t_answer = time.monotonic() - srv.started_at
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=600)
        t_emit = time.monotonic() - srv.started_at
        name = f"qlight run --pace {pace}"
        load = measure_load(name, f"{srv.api}/device", rate, duration_s)
        after = httpx.get(f"{srv.api}/device", timeout=10.0).json()
        assert after["state"] == "EMITTING", after["state"]
        hz, gap = measure_stream(srv.info["ws_url"], ws_s)
        code = srv.stop()
    return Boot(
        pace, t_print, t_answer, t_emit, st["power_on_to_emitting_s"], load, hz, gap, code, st
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def run(rate: float, duration_s: float, ws_seconds: float, seed: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        first = boot(data, "fast", seed, rate, duration_s, ws_seconds)  # maps the chip
        again = boot(data, "realtime", seed, rate, duration_s, ws_seconds)  # returns
        peer_proc, peer_url = start_peer(again.body)
        try:
            peer = measure_load("peer: bare FastAPI + uvicorn", peer_url, rate, duration_s)
        finally:
            peer_proc.terminate()
            peer_proc.wait(10)
    p99 = float(np.percentile(again.load.latency_ms, 99))
    boots = []
    for b, what in ((first, "first boot (maps the chip)"), (again, "restart (registry present)")):
        boots.append(
            f"| {what} | {b.pace} | {b.t_print_s:.1f} | {b.t_answer_s - b.t_print_s:.2f} "
            f"| {b.t_emitting_s:.1f} | {b.power_on_to_emitting_s:.1f} | {b.ws_hz:.1f} "
            f"| {b.ws_gap_s * 1e3:.0f} | {b.exit_code} |"
        )
    lines = [
        BEGIN,
        "## Device service API (issue 5, `benchmarks/bench_api_latency.py`)",
        "",
        f"Machine: {_docs.machine('shared with other jobs', fastapi, uvicorn, httpx)}.",
        "",
        f"`qlight run --twin-seed {seed}` with a fresh data directory: a first boot with "
        "`--pace fast` (maps the chip), SIGTERM, then a restart with `--pace realtime` (the "
        "device as it runs in the rack). While EMITTING, `GET /api/v1/device` is sent over "
        f"loopback by an open-loop generator (raw HTTP/1.1 keep-alive on asyncio streams, "
        f"8–64 connections) at {rate:.0f} requests/s for {duration_s:.0f} s. *Latency* counts "
        "from the scheduled send time (no coordinated omission), *service* from the actual "
        "send. The peer, in the same run with the same generator, is a bare FastAPI app on "
        "uvicorn (same server options) returning the same JSON body: the floor of the web "
        "stack on this machine. The machine is shared with other jobs: tails (p99, max) vary "
        "2–5× from run to run, so compare rows of the same run.",
        "",
        "| server | achieved req/s | answered | errors | latency p50 (ms) | latency p99 (ms) "
        "| max (ms) | service p50 (ms) | service p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
        again.load.row(),
        first.load.row(),
        peer.row(),
        "",
        "| boot | pace | URLs printed (s) | first answer after URLs (s) | EMITTING (wall s) "
        "| power-on → EMITTING (sim s) | stream status msgs/s | largest gap (ms) "
        "| exit after SIGTERM |",
        "|---|---|---|---|---|---|---|---|---|",
        *boots,
        "",
        f"- Goal p99 < 50 ms at {rate:.0f} req/s while EMITTING (realtime pace): "
        f"**{p99:.1f} ms**, {_verdict(p99 < 50.0)}. With `--pace fast` the twin's simulation "
        "thread runs flat out in the same process and competes for the GIL.",
        f"- Stream ≥ 2 Hz: {again.ws_hz:.1f} and {first.ws_hz:.1f} status messages/s, "
        f"{_verdict(min(again.ws_hz, first.ws_hz) >= 2.0)}.",
        f"- Power-on → EMITTING ≤ 30 s simulated (restart): "
        f"{again.power_on_to_emitting_s:.1f} s, {_verdict(again.power_on_to_emitting_s <= 30)}; "
        "the first boot includes MAPPING of the chip.",
        f"- Answers within 1 s of start: the first HTTP answer comes "
        f"{(again.t_answer_s - again.t_print_s) * 1e3:.0f} ms after the URLs are printed, but "
        f"the URLs come {again.t_print_s:.1f} s after spawning `qlight run`: Python importing "
        "the `qlight` command (`qlight.cli.main` imports every sub-command eagerly; the "
        "device's own imports come after the sockets listen) — "
        f"{_verdict(again.t_answer_s <= 1.0)} from process start.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--ws-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.pop("QLIGHT_API_TOKEN", None)
    text = run(args.rate, args.duration, args.ws_seconds, args.seed)
    print(text)
    if not args.no_write:
        _docs.replace_section(BEGIN, END, text)
        print(f"\nwritten to {_docs.DOC}")


if __name__ == "__main__":
    main()
