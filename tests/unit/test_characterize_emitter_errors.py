"""``qlight characterize --emitter`` input and device errors, in-process, against the fake.

The real command in a subprocess on ``qlight run``: tests/system/test_cli_characterize_emitter.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.api_fakes import serve_in_thread
from tests.fake_characterize import FakeCharacterizingDevice
from typer.testing import CliRunner

from qlight.api.app import create_app
from qlight.cli.main import app
from qlight.device.service_types import DeviceState

TOKEN = "cli-token-" + "u" * 24
runner = CliRunner()


@pytest.fixture
def fake() -> FakeCharacterizingDevice:
    return FakeCharacterizingDevice(seed=4, state=DeviceState.EMITTING, steps=2)


@pytest.fixture
def url(fake: FakeCharacterizingDevice) -> Iterator[str]:
    with serve_in_thread(create_app(fake, api_token=TOKEN, dashboard=False)) as u:
        yield u


def _error(args: list[str], tmp_path: Path) -> str:
    result = runner.invoke(app, ["characterize", *args, "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_device(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    err = _error(["--emitter", "E0001", "--url", url, "--token", TOKEN], tmp_path)
    assert "no device answers" in err


def test_bad_token_unknown_emitter_and_failed_job(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = _error(["--emitter", "E0001", "--url", url, "--token", "w" * 24], tmp_path)
    assert "refused the API token (401)" in err
    monkeypatch.setenv("QLIGHT_API_TOKEN", TOKEN)  # the token from the environment
    err = _error(["--emitter", "E9999", "--url", url], tmp_path)
    assert "unknown emitter 'E9999'" in err
    err = _error(["--emitter", "E0001", "--url", url], tmp_path)
    assert "characterization of E0001 failed: fake instrument failure" in err


def test_token_from_the_data_dir_and_busy_device(
    url: str, fake: FakeCharacterizingDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QLIGHT_API_TOKEN", raising=False)
    err = _error(["--emitter", "E0001", "--url", url, "--data-dir", str(tmp_path)], tmp_path)
    assert "no API token" in err
    (tmp_path / "api_token").write_text(TOKEN + "\n")
    fake.characterize("E0002")  # a job is running: 409 with the reason
    err = _error(["--emitter", "E0001", "--url", url, "--data-dir", str(tmp_path)], tmp_path)
    assert "refused to characterize E0001: a job is still running" in err


def test_bad_input(tmp_path: Path) -> None:
    assert "not both" in _error(["--emitter", "E0001", "x.h5"], tmp_path)
    assert "--emitter ID" in _error([], tmp_path)
    err = _error(["--emitter", "E0001", "--hbt-s", "0", "--token", TOKEN], tmp_path)
    assert "--hbt-s" in err
    err = _error(["--emitter", "E0001", "--powers-mw", "a,b", "--token", TOKEN], tmp_path)
    assert "--powers-mw" in err
