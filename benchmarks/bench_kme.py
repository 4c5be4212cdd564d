"""ETSI GS QKD 014 KME throughput: ``enc_keys`` requests per second over mutual TLS.

Issue 9 goal: ≥ 500 ``enc_keys`` requests/s (one 256-bit key each) over mutual TLS on
loopback with keep-alive clients.

* The KME pair of ``qlight kme demo`` (``write_pair_setup``: sae-a, sae-c on KME A; sae-b on
  KME B) runs in a **separate process** (this script with ``--serve``), both KMEs in one
  uvloop event loop, the stores pre-filled with random chunks (the feeder's rate is the
  link's, not the KME's, so it is not part of this figure).
* Load: a **closed-loop** generator in this process: ``connections`` keep-alive TLS
  connections (raw HTTP/1.1 on asyncio streams, client certificate of sae-a), each sending
  the next request as soon as the previous answer arrived, for ``duration`` seconds after a
  warm-up. Every answer must be 200; the key IDs are collected and checked unique.
* Scenarios: ``GET enc_keys`` for sae-b (the slave is on the peer KME: every request is
  one synchronous KME-to-KME sync over its own mTLS channel), with the store's
  ``synchronous=FULL`` (default: a delivery survives a power cut) and ``NORMAL``; for sae-c
  (slave on the same KME: no sync); ``GET status`` (no store write).
* Store, in-process: the peer side of a sync (``KmeStore.reserve_from_pool_many``) with the
  planned chunks read in one query vs one SELECT per chunk (the code before), paired.
* Peer, same run, same generator: a bare FastAPI app on uvicorn over the same mutual TLS
  returning a constant JSON object of the size of a Key container — the floor of the web
  stack on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fastapi
import uvicorn

import _docs

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- kme: begin -->"
END = "<!-- kme: end -->"


# ------------------------------------------------------------------------- server side
def _serve(folder: Path, n_chunks: int, synchronous: str, bare: bool) -> None:
    import secrets

    from qlight.api.kme_server import bind_socket, build_kme, serve_forever
    from qlight.api.kme_tls import TlsHttpToolsProtocol, server_ssl_context
    from qlight.qkd.kme.pair import write_pair_setup

    sa, sb = bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)
    setup = write_pair_setup(folder, sa.getsockname()[1], sb.getsockname()[1],
                             synchronous=synchronous)  # fmt: skip
    if bare:
        body = {"keys": [{"key_ID": str(uuid.uuid4()), "key": "A" * 44}]}
        app = fastapi.FastAPI()

        @app.get("/api/v1/keys/{slave}/enc_keys")
        async def enc(slave: str) -> dict[str, Any]:
            return body

        ctx = server_ssl_context(folder / "ca.pem", folder / "kme-a.pem", folder / "kme-a.key")
        cfg = uvicorn.Config(app, http=TlsHttpToolsProtocol, log_level="warning",
                             ssl_context_factory=lambda _c, _d: ctx, access_log=False)  # fmt: skip
        server = uvicorn.Server(cfg)

        async def run() -> None:
            task = asyncio.ensure_future(server.serve(sockets=[sa]))
            while not server.started:
                await asyncio.sleep(0.02)
            print(json.dumps({"url": f"https://127.0.0.1:{sa.getsockname()[1]}"}), flush=True)
            await task

        import uvloop

        uvloop.run(run())
        return
    ka, kb = build_kme(setup.config_a, sock=sa), build_kme(setup.config_b, sock=sb)
    for owner in ("kme-a", "kme-b"):
        chunks = [(str(uuid.uuid4()), secrets.token_bytes(32)) for _ in range(n_chunks)]
        for k in (ka, kb):
            for i in range(0, n_chunks, 5000):
                k.service.store.put_chunks(chunks[i : i + 5000], owner)
    serve_forever([ka, kb], on_started=lambda: print(json.dumps({"url": ka.url}), flush=True))


# ------------------------------------------------------------------------- client side
async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _load(url: str, path: str, ctx: ssl.SSLContext, connections: int,
                warmup_s: float, duration_s: float) -> dict[str, Any]:  # fmt: skip
    host, port = url.removeprefix("https://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    counts = {"ok": 0, "bad": 0}
    ids: list[str] = []
    t_start = time.perf_counter()
    t_measure, t_end = t_start + warmup_s, t_start + warmup_s + duration_s

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
        try:
            while (now := time.perf_counter()) < t_end:
                writer.write(request)
                status, body = await _read_response(reader)
                if now >= t_measure:
                    counts["ok" if status == 200 else "bad"] += 1
                    if status == 200 and b"key_ID" in body:
                        ids.extend(k["key_ID"] for k in json.loads(body)["keys"])
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(connections)))
    return {"requests_per_s": counts["ok"] / duration_s, "errors": counts["bad"],
            "unique_ids": len(set(ids)) == len(ids)}  # fmt: skip


def _client_ctx(folder: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    ctx.load_cert_chain(folder / "sae-a.pem", folder / "sae-a.key")
    return ctx


def _scenario(name: str, path: str, *, synchronous: str = "NORMAL", bare: bool = False,
              connections: int, duration_s: float, n_chunks: int) -> dict[str, Any]:  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, __file__, "--serve", d, "--chunks", str(n_chunks),
               "--synchronous", synchronous] + (["--bare"] if bare else [])  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["url"]
            import uvloop

            res = uvloop.run(_load(url, path, _client_ctx(Path(d)), connections, 1.0, duration_s))
        finally:
            proc.terminate()
            proc.wait(30)
    res["scenario"] = name
    print(f"{name:58s} {res['requests_per_s']:8.0f} req/s  errors {res['errors']}")
    return res


# ------------------------------------------------------- store: the peer side of a sync
def _per_chunk_store() -> type:
    """The store as it was before the batched read: one SELECT per chunk (reference)."""
    from qlight.qkd.kme.errors import ServiceUnavailableError
    from qlight.qkd.kme.store import KmeStore, assemble

    class PerChunkStore(KmeStore):
        def _spend_plans(self, items: Any) -> None:
            for plan, owner, master_sae, slaves in items:
                built = []
                for pk in plan:
                    parts = []
                    for cid in pk.chunk_ids:
                        row = self._db.execute(
                            "SELECT material FROM pool WHERE chunk_id = ? AND owner = ?",
                            (cid, owner),
                        ).fetchone()
                        if row is None:
                            raise ServiceUnavailableError(f"chunk {cid} not in the pool")
                        parts.append(bytes(row[0]))
                    built.append((pk.key_id, assemble(parts, pk.size_bits)))
                ids = [(c,) for pk in plan for c in pk.chunk_ids]
                self._db.executemany("DELETE FROM pool WHERE chunk_id = ?", ids)
                self._count_change(owner, -len(ids))
                if slaves:
                    self._insert_keys(built, master_sae, slaves)

    return PerChunkStore


def _store_scenarios(repeats: int = 7) -> list[dict[str, Any]]:
    """CPU time of one peer-side sync transaction (``reserve_from_pool_many``), batched
    read vs one SELECT per chunk, paired: both stores hold the same 50 000-chunk pool and
    take turns (alternating which goes first) on the same batches; best of ``repeats``."""
    import secrets

    from qlight.qkd.kme.store import KmeStore, PlannedKey

    per_chunk = _per_chunk_store()
    cases = [("16 requests x 1 key of 256 bits (1 chunk)", 16, 1, 1),
             ("16 requests x 32 keys of 1024 bits (4 chunks)", 16, 32, 4),
             ("1 request x 128 keys of 8192 bits (32 chunks)", 1, 128, 32)]  # fmt: skip
    out = []
    with tempfile.TemporaryDirectory() as d:
        pool = [(str(uuid.uuid4()), secrets.token_bytes(32)) for _ in range(50_000)]
        stores = {
            "batched": KmeStore(Path(d) / "new.sqlite", chunk_bytes=32, max_chunks=10**6,
                                synchronous="NORMAL"),
            "per_chunk": per_chunk(Path(d) / "old.sqlite", chunk_bytes=32, max_chunks=10**6,
                                   synchronous="NORMAL"),
        }  # fmt: skip
        for st in stores.values():
            for i in range(0, len(pool), 5000):
                st.put_chunks(pool[i : i + 5000], "kme-a")
        next_chunk = 0
        for name, n_req, n_keys, n_chunks in cases:
            best = {k: float("inf") for k in stores}
            for rep in range(repeats):
                items = []
                for _r in range(n_req):
                    plan = []
                    for _k in range(n_keys):
                        ids = tuple(c for c, _ in pool[next_chunk : next_chunk + n_chunks])
                        next_chunk += n_chunks
                        plan.append(PlannedKey(str(uuid.uuid4()), 256 * n_chunks, ids))
                    items.append((plan, "kme-a", "sae-a", ["sae-b"]))
                order = list(stores.items())
                for key, st in order if rep % 2 else order[::-1]:
                    t0 = time.process_time()
                    st.reserve_from_pool_many(items)
                    best[key] = min(best[key], time.process_time() - t0)
            per = n_req * n_keys * n_chunks
            row = {"case": name, "chunks": per, "batched_ms": 1e3 * best["batched"],
                   "per_chunk_ms": 1e3 * best["per_chunk"]}  # fmt: skip
            print(f"store: {name:48s} batched {row['batched_ms']:7.2f} ms  "
                  f"per-chunk {row['per_chunk_ms']:7.2f} ms")  # fmt: skip
            out.append(row)
        for st in stores.values():
            st.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--chunks", type=int, default=100_000, help=argparse.SUPPRESS)
    ap.add_argument("--synchronous", default="NORMAL", help=argparse.SUPPRESS)
    ap.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()
    if args.serve is not None:
        _serve(args.serve, args.chunks, args.synchronous, args.bare)
        return
    kw = {"connections": args.connections, "duration_s": args.duration, "n_chunks": 100_000}
    enc = "/api/v1/keys/{}/enc_keys"
    rows = [
        _scenario("bare FastAPI + uvicorn, same mTLS (stack floor)", enc.format("sae-b"),
                  bare=True, **kw),
        _scenario("GET status (no store write)", "/api/v1/keys/sae-b/status", **kw),
        _scenario("enc_keys, slave on the same KME (sae-c), NORMAL", enc.format("sae-c"), **kw),
        _scenario("enc_keys, slave on the peer KME (sae-b), NORMAL", enc.format("sae-b"), **kw),
        _scenario("enc_keys, slave on the peer KME (sae-b), FULL (default)",
                  enc.format("sae-b"), synchronous="FULL", **kw),
        _scenario(f"same, {4 * args.connections} connections", enc.format("sae-b"),
                  synchronous="FULL", **{**kw, "connections": 4 * args.connections}),
    ]  # fmt: skip
    assert all(r["unique_ids"] for r in rows[1:]), "a key ID was delivered twice"
    store_rows = _store_scenarios()
    note = f"shared with other jobs, load average {os.getloadavg()[0]:.1f}"
    lines = [
        BEGIN,
        "## KME key delivery (ETSI GS QKD 014, issue 9)",
        "",
        f"Machine: {_docs.machine(note, fastapi, uvicorn)}.",
        f"Closed loop, {args.connections} keep-alive mutual-TLS connections (client in one "
        f"process, both KMEs in another), {args.duration:g} s per scenario after 1 s warm-up; "
        "one 256-bit key per request. Goal: ≥ 500 enc_keys requests/s. Run: "
        "`python benchmarks/bench_kme.py`.",
        "",
        "| scenario | requests/s | errors |",
        "|---|---:|---:|",
        *(f"| {r['scenario']} | {r['requests_per_s']:.0f} | {r['errors']} |" for r in rows),
        "",
        "Every key ID handed out in a KME scenario was unique. The sae-b rows include the "
        "synchronous KME-to-KME sync (HTTPS, mutual TLS, keep-alive); concurrent requests "
        "are grouped, one sync round trip and one SQLite transaction per side per batch "
        "(group commit); FULL adds an fsync per commit.",
        "",
        "Peer side of a sync, in-process (`KmeStore.reserve_from_pool_many`, one transaction, "
        "`synchronous=NORMAL`, 50 000-chunk pool): CPU time (`time.process_time`, best of 7, "
        "the two variants taking turns on the same batches in the same run) of reading the "
        "planned chunks in one `IN (…)` query per owner (current) vs one SELECT per chunk "
        "(before, kept in this script as the reference). The read is a small part of the "
        "transaction: measured alone inside it, ≈ 1.8 µs per chunk one SELECT at a time vs "
        "≈ 1.6 µs batched (2026-11-27); deleting the chunks and inserting the keys and "
        "grants (rows and index updates) dominate.",
        "",
        "| batch | chunks | transaction, batched read (ms) "
        "| transaction, one SELECT per chunk (ms) | ratio |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['case']} | {r['chunks']} | {r['batched_ms']:.2f} | {r['per_chunk_ms']:.2f} "
            f"| {r['per_chunk_ms'] / r['batched_ms']:.1f}x |"
            for r in store_rows
        ),
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_doc:
        _docs.replace_section(BEGIN, END, text)
        print(f"\nwritten to {_docs.DOC}")


if __name__ == "__main__":
    main()
