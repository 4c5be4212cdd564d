"""ETSI GS QKD 014 key management entity (logic only; HTTP in :mod:`qlight.api.kme_app`).

Modules: :mod:`~.config` (TOML configuration), :mod:`~.models` (the standard's JSON objects),
:mod:`~.rules` (request validation and authorization), :mod:`~.store` (SQLite key store),
:mod:`~.sync` (KME-to-KME sync message), :mod:`~.service` (the KME), :mod:`~.feeder`
(simulated link + post-processing into both stores). See ``docs/kme.md``.
"""

from qlight.qkd.kme.config import KmeConfig, load_config
from qlight.qkd.kme.errors import (
    BadRequestError,
    KmeError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from qlight.qkd.kme.service import KmeService, open_store
from qlight.qkd.kme.store import KmeStore

__all__ = [
    "BadRequestError",
    "KmeConfig",
    "KmeError",
    "KmeService",
    "KmeStore",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "load_config",
    "open_store",
]
