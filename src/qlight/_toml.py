"""Reading a TOML configuration file, with one clear error line naming the file.

Shared by every layer that reads a configuration file (the device settings, the KME
configuration); it sits next to :mod:`qlight.errors` so that any layer may import it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from qlight.errors import ConfigurationError

__all__ = ["read_toml"]


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse the TOML file ``path`` into its top-level table (TOML v1.0.0, via ``tomllib``).

    Parameters
    ----------
    path : str or Path
        The file to read.

    Returns
    -------
    dict
        The document's top-level table (TOML v1.0.0: a document is always a table).

    Raises
    ------
    qlight.errors.ConfigurationError
        One line starting ``config file <path>:``: ``cannot read (<reason>)`` for a missing,
        unreadable or non-regular file, ``not UTF-8 text`` for binary content, ``invalid
        TOML (<parser message with line and column>)`` for anything that is not a TOML
        document (a bare value, an array, a syntax error).
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"config file {p}: cannot read ({reason})") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"config file {p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {p}: invalid TOML ({exc})") from None
    return data
