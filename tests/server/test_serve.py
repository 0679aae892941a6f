"""A real ``imgrec serve`` with its worker: a search runs, survives a server restart, and its
best model downloads and predicts."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.serving import Server, running_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "home") as running:
        yield running


def _watch(server: Server, exp_id: int, after: int, until: Any, timeout_s: float) -> int:
    """Read the experiment's feed until ``until(message)``; returns the last cursor."""
    url = f"ws://127.0.0.1:{server.port}/ws/experiments/{exp_id}?after={after}"
    deadline = time.monotonic() + timeout_s
    with connect(url) as ws:
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=timeout_s))
            after = max(after, int(message.get("cursor", after)))
            if until(message):
                return after
    raise AssertionError(f"the feed did not show it within {timeout_s} s")


def _worker_pids(home: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "imgrec worker --wait"], capture_output=True, text=True)
    pids = []
    for pid in found.stdout.split():
        environ = Path(f"/proc/{pid}/environ")
        if environ.exists() and str(home).encode() in environ.read_bytes():
            pids.append(int(pid))
    return pids


def test_search_survives_a_restart_and_its_model_predicts(
    server: Server, shapes_zip: bytes, shapes_dir: Path, tmp_path: Path
) -> None:
    api = httpx.Client(base_url=server.url, timeout=30)
    exp_id = server.start_small_search(shapes_zip, epochs=6)
    cursor = _watch(server, exp_id, 0, lambda m: bool(m["epochs"]), timeout_s=120)

    # uvicorn shuts down cleanly, then re-raises SIGTERM: exit code -15 (0 on older versions)
    assert server.stop() in (0, -signal.SIGTERM)  # mid-trial: the worker hands its trial back
    assert _worker_pids(server.home) == []
    server.start()
    _watch(
        server,
        exp_id,
        cursor,
        lambda m: (m["experiment"] or {}).get("status") == "completed",
        timeout_s=300,
    )
    exp = api.get(f"/api/experiments/{exp_id}").json()
    assert [t["status"] for t in exp["trials"]] == ["completed"] * 3, exp["trials"]
    assert exp["progress"]["done"] == 3
    # the trial the restart stopped continued from its checkpoint under a new trial number
    resumed = [t for t in exp["trials"] if t["name"] != f"trial-{t['trial_number']:03d}"]
    assert len(resumed) == 1 and resumed[0]["epochs_completed"] == 6, exp["trials"]
    log = (server.home / "web" / "logs" / "worker-0.log").read_text()
    assert f"resuming run {resumed[0]['id']}" in log and "from its checkpoint" in log

    best = exp["best_run_id"]
    assert best is not None
    download = api.get(f"/api/runs/{best}/model.zip")
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        zf.extractall(tmp_path / "model")
    image = next((shapes_dir / "circle").glob("*.png"))
    predicted = subprocess.run(
        [sys.executable, "-m", "imgrec", "predict", str(tmp_path / "model"), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert any(c in predicted.stdout for c in ("circle", "square", "star", "triangle"))
