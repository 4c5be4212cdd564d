"""The KME-to-KME channel: HTTPS with mutual TLS (both KMEs' certificates from the same CA).

:class:`HttpPeerLink` posts :class:`~qlight.qkd.kme.sync.SyncBatch` messages to the peer's
``/kme/v1/sync/reserve`` over one keep-alive connection pool; the peer checks the sender's
certificate CN (``peer.cn`` in its configuration). Any failure becomes
:class:`~qlight.qkd.kme.errors.ServiceUnavailableError` (the SAE sees 503).
"""

from __future__ import annotations

import ssl

import httpx

from qlight.qkd.kme.errors import ServiceUnavailableError
from qlight.qkd.kme.sync import SyncBatch

__all__ = ["SYNC_PATH", "HttpPeerLink"]

SYNC_PATH = "/kme/v1/sync/reserve"


class HttpPeerLink:
    """Sends sync messages to the peer KME at ``url`` (see the module docstring)."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(
            verify=ssl_context,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    async def reserve(self, batch: SyncBatch) -> None:
        """Deliver one sync batch; the peer has stored the keys when this returns."""
        try:
            r = await self._client.post(self.url + SYNC_PATH, content=batch.model_dump_json(),
                                        headers={"content-type": "application/json"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"peer KME unreachable ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise ServiceUnavailableError(f"peer KME refused the sync ({r.status_code})")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
