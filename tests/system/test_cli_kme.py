"""`qlight kme certs|demo|serve` end to end: the installed command in subprocesses, a client
with client certificates (httpx, as curl would), SIGINT -> clean exit."""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tests.system._cli import QLIGHT

KEYS = "/api/v1/keys"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``qlight ARGS --json``; return the process and the JSON line it prints."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [*QLIGHT, *args, "--json"], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=120)
    except queue.Empty:
        proc.kill()
        raise AssertionError("no JSON line within 120 s") from None
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGINT, then the process must exit with 0 within 60 s; returns its stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("no clean exit within 60 s after SIGINT") from None
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def _client(folder: Path, sae: str, url: str) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    ctx.load_cert_chain(folder / f"{sae}.pem", folder / f"{sae}.key")
    return httpx.Client(verify=ctx, base_url=url, timeout=10)


def test_demo_delivers_keys_and_serve_restarts_from_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    pa, pb = _free_port(), _free_port()
    args = ["kme", "demo", "--dir", str(folder), "--port-a", str(pa), "--port-b", str(pb),
            "--seed", "5", "--pulses", "1000000"]  # fmt: skip
    proc, info = _start(args, tmp_path)
    try:
        assert info["kme_a"]["url"] == f"https://127.0.0.1:{pa}"
        assert info["kme_b"]["url"] == f"https://127.0.0.1:{pb}"
        for name in ("ca.pem", "sae-a.pem", "sae-a.key", "sae-b.pem", "sae-c.key"):
            assert (folder / name).is_file()
        with _client(folder, "sae-a", info["kme_a"]["url"]) as a:
            deadline = time.monotonic() + 180
            while a.get(f"{KEYS}/sae-b/status").json()["stored_key_count"] < 4:
                assert time.monotonic() < deadline, "the feeder stored no key in 180 s"
                time.sleep(0.5)
            r = a.post(f"{KEYS}/sae-b/enc_keys", json={"number": 2, "size": 512})
            assert r.status_code == 200, r.text
            keys = {k["key_ID"]: k["key"] for k in r.json()["keys"]}
        kid1, kid2 = keys
        assert len(base64.b64decode(keys[kid1])) == 64
        with _client(folder, "sae-b", info["kme_b"]["url"]) as b:
            r = b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": kid1})
            assert r.status_code == 200
            assert r.json()["keys"] == [{"key_ID": kid1, "key": keys[kid1]}]
        with _client(folder, "sae-c", info["kme_a"]["url"]) as c:  # sae-c is nobody's slave
            r = c.get(f"{KEYS}/sae-b/dec_keys", params={"key_ID": kid2})
            assert r.status_code == 400
    finally:
        if proc.poll() is None:
            _stop(proc)
    # KME B alone, from its configuration: the key still waiting for sae-b survived
    proc, served = _start(["kme", "serve", "--config", str(folder / "kme-b.toml")], tmp_path)
    try:
        assert served == {"kme_id": "kme-b", "url": f"https://127.0.0.1:{pb}", "saes": ["sae-b"]}
        with _client(folder, "sae-b", served["url"]) as b:
            r = b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": kid2})
            assert r.status_code == 200
            assert r.json()["keys"] == [{"key_ID": kid2, "key": keys[kid2]}]
            assert b.get(f"{KEYS}/sae-a/dec_keys", params={"key_ID": kid2}).status_code == 400
    finally:
        _stop(proc)
