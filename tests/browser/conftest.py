"""A real ``imgrec serve`` on 127.0.0.1 and Debian's Chromium driven by Playwright.

Playwright cannot download its own browsers here, so the tests launch the system ``chromium``;
without it (or without the ``playwright`` package) they skip with the reason, which
``IMGREC_REQUIRE_SERVICES=1`` turns into a failure. Screenshots go to ``artifacts/`` (ignored by
git) so that a person can look at every page after a run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import skip_or_fail

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 60) -> str:
        logs = [self.log, *sorted((self.home / "web" / "logs").glob("*.log"))]
        text = []
        for path in logs:
            if path.is_file():
                text.append(
                    f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-lines:])
                )
        return "\n".join(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(server: Server, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"imgrec serve exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"imgrec serve did not answer /api/health in {timeout_s} s:\n{server.log_tail()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``imgrec serve --workers 1`` with its own IMGREC_HOME (SQLite) on a free port."""
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = {**os.environ, "IMGREC_HOME": str(home), "IMGREC_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("IMGREC_DB_URL", None)
    env.pop("IMGREC_TOKEN", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imgrec",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(url=f"http://127.0.0.1:{port}", home=home, log=log, process=process)
    try:
        _wait_healthy(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
