"""`qlight kme certs|serve` input handling, in-process (the subprocess runs are in
tests/system/test_cli_kme.py)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from typer.testing import CliRunner

from qlight.cli.main import app

runner = CliRunner()


def test_certs_writes_ca_kme_and_sae_files(tmp_path: Path) -> None:
    res = runner.invoke(app, ["kme", "certs", "--out", str(tmp_path / "pki"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for name in ("ca", "kme-a", "kme-b", "sae-a", "sae-b", "sae-c"):
        assert Path(out["files"][name]).is_file()
    assert (Path(out["files"]["sae-a.key"]).stat().st_mode & 0o077) == 0  # private key 0600
    ctx = ssl.create_default_context(cafile=out["files"]["ca"])
    ctx.load_cert_chain(out["files"]["sae-a"], out["files"]["sae-a.key"])  # a matching pair


def test_certs_bad_names_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["kme", "certs", "--out", str(tmp_path / "x"), "--sae", "ca"])
    assert res.exit_code == 2
    assert "must be distinct" in res.output
    (tmp_path / "file").write_text("")
    res = runner.invoke(app, ["kme", "certs", "--out", str(tmp_path / "file")])
    assert res.exit_code == 2


def test_serve_bad_config_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["kme", "serve", "--config", str(tmp_path / "none.toml")])
    assert res.exit_code == 2
    assert "does not exist" in res.output
    (tmp_path / "k.toml").write_text('kme_id = "a"\n')
    res = runner.invoke(app, ["kme", "serve", "--config", str(tmp_path / "k.toml")])
    assert res.exit_code == 2
    assert "store_path" in res.output
    (tmp_path / "k.toml").write_text(
        'kme_id = "a"\nstore_path = "a.sqlite"\n'
        '[tls]\nca = "ca.pem"\ncert = "a.pem"\nkey = "a.key"\n'
    )
    res = runner.invoke(app, ["kme", "serve", "--config", str(tmp_path / "k.toml")])
    assert res.exit_code == 2
    assert "tls.ca" in res.output


def test_demo_bad_ports_exit_2(tmp_path: Path) -> None:
    for ports in (["--port-a", "9000", "--port-b", "9000"], ["--port-a", "0"]):
        res = runner.invoke(app, ["kme", "demo", "--dir", str(tmp_path), *ports])
        assert res.exit_code == 2
