"""Browser test suite: Debian's /usr/bin/chromium, headless, driven by Playwright.

No browser is downloaded: Playwright launches the system Chromium (``make test`` installs the
Debian ``chromium`` package when it is missing). Every test here carries the ``browser``
marker (``pytest -m browser`` selects them, ``-m 'not browser'`` skips them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.browser._chromium import CHROMIUM, CHROMIUM_ARGS, Watched


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: loads pages in headless Chromium (Playwright)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module.

    Not per session: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is open, and ``asyncio.run`` in a later test of the same session would fail.
    """
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium package "
            "(`make test` installs it; or `sudo apt-get install chromium`, or set QLIGHT_CHROMIUM)",
            pytrace=False,
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def watched_page(browser: object) -> Iterator[Watched]:
    """A fresh browser context and page that records console errors and requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    w = Watched(page)
    page.on("console", lambda m: w.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: w.page_errors.append(str(e)))
    page.on("request", lambda r: w.requests.append(r.url))
    page.on("requestfailed", lambda r: w.failed.append(r.url))
    page.set_default_timeout(10_000)  # ms: no wait can hang
    try:
        yield w
    finally:
        context.close()
