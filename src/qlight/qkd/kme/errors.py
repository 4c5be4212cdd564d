"""Errors of the key management entity; each carries the HTTP status the API answers with.

ETSI GS QKD 014 V1.1.1, Sec. 5: only 400 (bad request format), 401 (unauthorized) and
503 (error on the server side) are error statuses; the API layer turns a :class:`KmeError`
into that status with the standard's Error object (Sec. 6.5).
"""

from __future__ import annotations

from typing import Any

from qlight.errors import QlightError

__all__ = ["BadRequestError", "KmeError", "ServiceUnavailableError", "UnauthorizedError"]


class KmeError(QlightError):
    """A refused KME request: ``status``, a one-line ``message``, optional ``details``."""

    status: int = 503

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequestError(KmeError):
    """400: the request is malformed or asks for something the KME cannot give."""

    status = 400


class UnauthorizedError(KmeError):
    """401: the caller is not allowed to do this (unknown SAE, keys issued to another SAE)."""

    status = 401


class ServiceUnavailableError(KmeError):
    """503: a server-side failure (no key material, peer KME unreachable, store error)."""

    status = 503
