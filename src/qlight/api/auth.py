"""The API token that authorises commands (``Authorization: Bearer <token>``).

Resolution order (issue 5, "Interfaces"):

1. the token given in the configuration (``api_token`` in the TOML file or the
   ``QLIGHT_API_TOKEN`` environment variable, both read by the device settings);
2. ``QLIGHT_API_TOKEN`` read here directly, for callers that build the app without settings;
3. the token stored in ``<data_dir>/api_token`` by an earlier run;
4. a new token, ``secrets.token_urlsafe(32)`` (256 bits from the OS CSPRNG), written to
   ``<data_dir>/api_token`` with mode 0600 (created exclusively, so two processes starting
   at once cannot overwrite each other's token) and reused by later runs.

Comparison is constant-time (:func:`secrets.compare_digest`), so response timing does not
reveal how many leading characters of a guess were right.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qlight.errors import ConfigurationError

__all__ = ["ENV_VAR", "TOKEN_FILE", "ApiToken", "resolve_api_token", "token_matches"]

#: Environment variable that sets the token.
ENV_VAR = "QLIGHT_API_TOKEN"
#: Name of the token file inside the data directory.
TOKEN_FILE = "api_token"
_MIN_LEN = 16


@dataclass(frozen=True)
class ApiToken:
    """A resolved token and where it came from (``config``, ``env``, ``file``, ``generated``)."""

    value: str
    source: Literal["config", "env", "file", "generated"]
    path: Path | None = None

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ApiToken(source={self.source!r}, path={self.path!r})"


def _check(value: str, where: str) -> str:
    token = value.strip()
    if len(token) < _MIN_LEN or any(c.isspace() for c in token):
        raise ConfigurationError(
            f"API token from {where} must be at least {_MIN_LEN} characters without spaces"
        )
    return token


def resolve_api_token(data_dir: Path, configured: str | None = None) -> ApiToken:
    """Return the API token, generating and storing one on first run.

    Parameters
    ----------
    data_dir : Path
        The device's data directory (created if missing).
    configured : str or None
        Token from the configuration, if any.

    Raises
    ------
    ConfigurationError
        A configured or stored token is too short, or the token file cannot be read/written.
    """
    if configured:
        return ApiToken(_check(configured, "the configuration"), "config")
    env = os.environ.get(ENV_VAR)
    if env:
        return ApiToken(_check(env, ENV_VAR), "env")
    path = Path(data_dir) / TOKEN_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)  # a secret must not be readable by others
            return ApiToken(_check(path.read_text(encoding="utf-8"), str(path)), "file", path)
        token = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
        return ApiToken(token, "generated", path)
    except OSError as exc:
        raise ConfigurationError(f"cannot use the API token file {path}: {exc}") from exc


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if presented is None:
        return False
    return secrets.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
