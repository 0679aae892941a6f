"""A real ``imgrec serve`` on 127.0.0.1 and Debian's Chromium driven by Playwright.

Playwright cannot download its own browsers here, so the tests launch the system ``chromium``;
without it (or without the ``playwright`` package) they skip with the reason, which
``IMGREC_REQUIRE_SERVICES=1`` turns into a failure. Screenshots go to ``artifacts/`` (ignored by
git) so that a person can look at every page after a run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import skip_or_fail
from tests.serving import Server, running_server

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``imgrec serve --workers 1`` with its own IMGREC_HOME (SQLite) on a free port."""
    with running_server(tmp_path / "home") as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page (1280x900) that records console errors in ``page.errors``."""
    chromium = shutil.which("chromium")
    if chromium is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.set_default_timeout(30_000)
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header would otherwise sit mid-image
    page.screenshot(path=str(path), full_page=True)
    return path
