"""``qlight run`` input errors, in-process (the real server: tests/system/test_run_server.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qlight.cli.main import app

runner = CliRunner()


def _run(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, ["run", *args])
    return result.exit_code, result.stderr


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    code, err = _run(["--config", str(tmp_path / "missing.toml"), "--data-dir", str(tmp_path)])
    assert code == 2
    assert "missing.toml" in _one_error_line(err)


def test_invalid_config_value_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("port = 'eighty'\n")
    code, err = _run(["--config", str(cfg), "--data-dir", str(tmp_path)])
    assert code == 2
    assert "port" in _one_error_line(err)


def test_port_out_of_range_exits_2(tmp_path: Path) -> None:
    code, err = _run(["--port", "70000", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "port" in _one_error_line(err)


def test_port_in_use_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QLIGHT_API_TOKEN", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = _run(["--port", str(port), "--scpi-port", "0", "--data-dir", str(tmp_path)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in _one_error_line(err)


def test_bad_token_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLIGHT_API_TOKEN", "short")
    code, err = _run(["--port", "0", "--scpi-port", "0", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "at least 16 characters" in _one_error_line(err)


@pytest.mark.parametrize(("flag", "value"), [("--pace", "sometimes"), ("--twin-seed", "x")])
def test_bad_flag_values_exit_2(flag: str, value: str) -> None:
    assert runner.invoke(app, ["run", flag, value]).exit_code == 2
