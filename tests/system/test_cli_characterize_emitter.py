"""``qlight characterize --emitter ID`` in a subprocess, as a user runs it.

The slow test starts ``qlight run`` (twin, pace fast), waits for EMITTING and certifies the
served emitter with short acquisitions, then checks the 401 and 404 errors; the fast one
checks the error with no device. The other errors are tested in-process
(tests/unit/test_cli_characterize_emitter.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.system._cli import QLIGHT
from tests.system._server import start_server, wait_for_state

TOKEN = "cli-token-" + "c" * 24
SHORT = ["--hbt-s", "2", "--pulsed-s", "1", "--spectrum-s", "1"]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Any:
    outer = {k: v for k, v in os.environ.items() if not k.startswith("QLIGHT_")}
    return subprocess.run(
        [*QLIGHT, "characterize", *args], cwd=cwd, capture_output=True, text=True,
        timeout=300, check=False, env={**outer, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )  # fmt: skip


def _inside(r: dict[str, Any]) -> bool:
    lo, hi = r["ci95"]
    return bool(lo <= r["value"] <= hi)


@pytest.mark.slow  # one boot of the twin to EMITTING and one characterization (~40-60 s)
def test_certificate_of_the_served_emitter(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_server(data) as srv:
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=180.0)
        eid = st["emitter_id"]
        info = httpx.get(f"{srv.api}/emitters/{eid}", timeout=10.0).json()
        base = srv.api.removesuffix("/api/v1")
        report = tmp_path / "r.html"
        # The token comes from <data-dir>/api_token (the file `qlight run` wrote).
        p = _run(["--emitter", eid, "--url", base, "--data-dir", str(data),
                  "--report", str(report), "--json", *SHORT], tmp_path)  # fmt: skip
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        res = out["results"]
        for k in ("g2_0_raw", "g2_0_corrected", "lifetime_ns", "count_rate_cps", "zpl_nm",
                  "p_sat_w", "i_inf_cps", "g2_0_pulsed"):  # fmt: skip
            assert res[k]["value"] is not None, (k, res[k])
            assert _inside(res[k]), k
        # A single emitter: raw g2(0) well below 0.5 (the device qualified it so), and the
        # background correction only lowers it.
        assert res["g2_0_raw"]["value"] < 0.5
        assert res["g2_0_corrected"]["value"] <= res["g2_0_raw"]["value"] + 1e-12
        assert res["g2_0_pulsed"]["value"] < 0.5
        # GaN colour-centre lifetimes are ns scale (REFERENCES.md): 0.3-20 ns is sane.
        assert 0.3 < res["lifetime_ns"]["value"] < 20.0
        assert 1e4 < res["count_rate_cps"]["value"] < 5e6
        # The ZPL agrees with the one the registry measured at mapping (a 0.5 nm-resolution
        # spectrometer; fits agree to far better than a resolution element).
        assert abs(res["zpl_nm"]["value"] - info["zpl_nm"]) < 0.5
        assert out["emitter_id"] == eid
        assert Path(out["files"]["hbt"]).is_file()
        assert out["provenance"]["emitter_id"] == eid
        assert len(out["provenance"]["files"]) == 4
        html = report.read_text()
        assert html.lstrip().lower().startswith("<!doctype html")
        # The device serves the same emitter again.
        st = wait_for_state(srv, {"EMITTING"}, timeout_s=120.0)
        assert st["emitter_id"] == eid
        # Errors against the real device: unknown emitter, wrong token.
        p = _run(["--emitter", "E-nope", "--url", base, "--token", TOKEN,
                  "--report", str(report)], tmp_path)  # fmt: skip
        assert p.returncode == 2
        assert "401" in p.stderr
        p = _run(["--emitter", "E-nope", "--url", base, "--token", srv.token,
                  "--report", str(report)], tmp_path)  # fmt: skip
        assert p.returncode == 2
        assert "404" in p.stderr
        assert "E-nope" in p.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_device_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    p = _run(["--emitter", "E0001", "--url", url, "--token", TOKEN,
              "--report", str(tmp_path / "r.html")], tmp_path)  # fmt: skip
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.strip().startswith("error: no device answers at")
    assert len(p.stderr.strip().splitlines()) == 1
