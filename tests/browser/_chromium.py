"""Debian's Chromium for the browser tests and the dashboard benchmark: where it is, how it
is launched (no sandbox, no GPU, no background traffic), and a page recorder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Watched"]

CHROMIUM = Path(os.environ.get("QLIGHT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Watched:
    """A page and what it did: console errors, uncaught exceptions, requests."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def external_requests(self, allowed_origin: str | None) -> list[str]:
        """Requests that left ``allowed_origin`` (``data:``/``about:`` never count)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "about", "blob"):
                continue
            origin = f"{parts.scheme}://{parts.netloc}"
            if allowed_origin is None or origin != allowed_origin:
                out.append(url)
        return out
