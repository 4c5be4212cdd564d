"""``qlight run`` end to end: the real device, uvicorn, httpx, WebSocket, kill -9 and restart."""

from __future__ import annotations

import json
import signal
import stat
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.system._server import start_server, wait_for_state
from websockets.sync.client import connect


@pytest.mark.slow  # two full boots of the twin (~35 s on the 2-core machine)
def test_run_serves_commands_streams_and_returns_to_the_same_emitter_after_kill_9(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with start_server(data) as srv:
        info = srv.info
        assert info["api_token_source"] == "generated"
        token_file = Path(info["api_token_file"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert info["scpi_resource"] == f"TCPIP::127.0.0.1::{info['scpi_port']}::SOCKET"
        # The API answers as soon as the URLs are printed (the socket already listens), long
        # before EMITTING: the goal is an answer within 1 s.
        t0 = time.monotonic()
        first = httpx.get(f"{srv.api}/device", timeout=10.0)
        assert first.status_code == 200
        assert time.monotonic() - t0 < 1.0
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=180.0)
        assert st["emitter_id"] is not None
        assert st["count_rate_cps"] > 0

        # Commands: 401 without the token, accepted with it.
        assert httpx.post(f"{srv.api}/device/standby", timeout=10.0).status_code == 401
        bad = {"Authorization": "Bearer not-the-token-at-all"}
        assert httpx.post(f"{srv.api}/device/standby", headers=bad, timeout=10.0).status_code == 401
        emitters = httpx.get(f"{srv.api}/emitters", timeout=10.0).json()
        others = [e["id"] for e in emitters if e["status"] == "qualified" and not e["is_current"]]
        assert others, "the seed-0 twin maps several qualified emitters"
        target = others[0]
        r = httpx.post(
            f"{srv.api}/device/select-emitter",
            json={"emitter_id": target},
            headers=srv.auth,
            timeout=10.0,
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] is True
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=120.0)
        deadline = time.monotonic() + 60.0
        while st["emitter_id"] != target and time.monotonic() < deadline:
            time.sleep(0.2)
            st = wait_for_state(srv, {"EMITTING"}, timeout_s=60.0)
        assert st["emitter_id"] == target
        r = httpx.post(
            f"{srv.api}/device/select-emitter",
            json={"emitter_id": "NO-SUCH-EMITTER"},
            headers=srv.auth,
            timeout=10.0,
        )
        assert r.status_code == 409

        # The WebSocket pushes >= 2 status updates per second while EMITTING.
        with connect(srv.info["ws_url"], open_timeout=10.0) as ws:
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 2.0:
                msg = json.loads(ws.recv(timeout=5.0))
                n += msg["type"] == "status"
        assert n >= 4

        metrics = httpx.get(info["metrics_url"], timeout=10.0).text
        names = {f.name for f in text_string_to_metric_families(metrics)}
        assert {"qlight_device_state", "qlight_count_rate_cps", "qlight_events"} <= names

        # kill -9: nothing may be lost.
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(20)

    with start_server(data) as again:
        assert again.info["api_token_source"] == "file"
        assert again.token == info["api_token"]
        st2 = wait_for_state(again, {"EMITTING"}, timeout_s=180.0)
        assert st2["emitter_id"] == target
        events = httpx.get(f"{again.api}/events", params={"limit": 1000}, timeout=10.0).json()
        assert len(events) > 0
        # SIGTERM: clean shutdown (device stopped), exit status 0.
        assert again.stop(signal.SIGTERM, timeout_s=30.0) == 0
