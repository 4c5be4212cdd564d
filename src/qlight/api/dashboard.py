"""The web dashboard: one static page (``/``) and its script and style (``/static/…``).

The page is plain HTML, CSS and JavaScript shipped inside the package
(``qlight/api/static``, found with :mod:`importlib.resources`); it needs no CDN and talks only
to the REST API under ``/api/v1`` and its WebSocket ``/api/v1/stream`` (polling the REST
endpoints while the socket is down). What it shows and how it is tested: ``docs/dashboard.md``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_dashboard"]

STATIC_DIR = Path(str(files("qlight.api").joinpath("static")))
"""Directory of the dashboard's files inside the installed package."""

_NO_CACHE = {"Cache-Control": "no-cache"}


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard on ``app``: ``GET /`` (the page) and ``/static/…`` (its assets).

    Parameters
    ----------
    app : FastAPI
        The device's application; its REST routes live under ``/api/v1``.
    """
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=_NO_CACHE)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
