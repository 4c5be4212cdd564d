"""The dashboard's files are served from the package and reach nothing outside the origin."""

from __future__ import annotations

import asyncio
import re

import httpx
from fastapi import FastAPI

from qlight.api.dashboard import STATIC_DIR, mount_dashboard


def _get_all(paths: list[str]) -> list[httpx.Response]:
    app = FastAPI()
    mount_dashboard(app)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return [await c.get(p) for p in paths]

    return asyncio.run(run())


def test_page_and_assets_are_served() -> None:
    page, js, style, plot, missing = _get_all(
        ["/", "/static/dashboard.js", "/static/dashboard.css", "/static/plot.js", "/static/x.js"]
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="/static/dashboard.js"' in page.text
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert plot.status_code == 200
    assert 'src="/static/plot.js"' in page.text
    assert missing.status_code == 404


def test_no_external_resources() -> None:
    # No CDN, no web fonts, no absolute URL of any kind in the shipped files.
    for f in STATIC_DIR.iterdir():
        text = f.read_text(encoding="utf-8")
        assert re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE) is None, f
        assert "@import" not in text, f
        assert "url(" not in text, f
