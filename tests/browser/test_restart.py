"""A page watching a search while the server restarts: it reconnects and follows it to the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import shot
from tests.server.conftest import zip_folder
from tests.serving import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _points(page: Any) -> int:
    return int(page.get_attribute("#chart-acc", "data-points") or 0)


def test_the_page_follows_a_search_across_a_server_restart(
    server: Server, page: Any, shapes_dir: Path
) -> None:
    exp_id = server.start_small_search(zip_folder(shapes_dir), epochs=8)
    page.goto(f"{server.url}/experiments/{exp_id}")
    page.wait_for_function(
        "Number(document.querySelector('#chart-acc').dataset.points) > 0", timeout=240_000
    )
    before = _points(page)

    server.stop()  # mid-trial: its worker hands the trial back
    page.wait_for_function(
        "document.querySelector('#live-text').textContent.includes('disconnected')"
    )
    shot(page, "12-experiment-server-down")
    server.start()
    page.wait_for_function(
        "document.querySelector('#exp-status .badge').textContent.trim() === 'completed'",
        timeout=300_000,
    )
    assert _points(page) > before
    states = page.locator("#trials tbody tr .badge").all_inner_texts()
    assert states == ["completed"] * 3, states  # the stopped trial resumed from its checkpoint
    log = (server.home / "web" / "logs" / "worker-0.log").read_text()
    assert "from its checkpoint" in log
    assert page.inner_text("#live-text").strip() == "live"
    shot(page, "13-experiment-after-restart")
    assert not page.errors, page.errors
