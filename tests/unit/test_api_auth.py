"""API token resolution (:mod:`qlight.api.auth`): config, environment, stored file, generated."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from qlight.api.auth import ENV_VAR, TOKEN_FILE, resolve_api_token, token_matches
from qlight.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_first_run_generates_and_stores_a_private_token(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    tok = resolve_api_token(data)
    assert tok.source == "generated"
    path = data / TOKEN_FILE
    assert tok.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == tok.value
    assert len(tok.value) >= 43  # token_urlsafe(32): 32 random bytes in base64url
    assert tok.value not in repr(tok)
    again = resolve_api_token(data)
    assert (again.value, again.source) == (tok.value, "file")


def test_two_data_dirs_get_different_tokens(tmp_path: Path) -> None:
    assert resolve_api_token(tmp_path / "a").value != resolve_api_token(tmp_path / "b").value


def test_config_wins_over_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_api_token(tmp_path)
    monkeypatch.setenv(ENV_VAR, "from-the-environment-123")
    assert resolve_api_token(tmp_path).value == "from-the-environment-123"
    assert resolve_api_token(tmp_path).source == "env"
    tok = resolve_api_token(tmp_path, "from-the-config-file-1")
    assert (tok.value, tok.source) == ("from-the-config-file-1", "config")


def test_stored_token_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("a-stored-token-of-length-30xx\n")
    path.chmod(0o644)
    tok = resolve_api_token(tmp_path)
    assert (tok.value, tok.source) == ("a-stored-token-of-length-30xx", "file")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("bad", ["short", "has a space in it, long", "\n"])
def test_bad_tokens_are_configuration_errors(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        resolve_api_token(tmp_path, bad) if bad.strip() else _stored(tmp_path, bad)


def _stored(tmp_path: Path, text: str) -> None:
    (tmp_path / TOKEN_FILE).write_text(text)
    resolve_api_token(tmp_path)


def test_unwritable_data_dir_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError, match="cannot use the API token file"):
        resolve_api_token(blocker / "data")


def test_token_matches() -> None:
    assert token_matches("abc-token-0123456789", "abc-token-0123456789")
    assert not token_matches("abc-token-012345678", "abc-token-0123456789")
    assert not token_matches(None, "abc-token-0123456789")
    assert not token_matches("", "abc-token-0123456789")
    assert not token_matches("äbc-token-0123456789", "abc-token-0123456789")
