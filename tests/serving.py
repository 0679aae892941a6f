"""A real ``imgrec serve`` subprocess on 127.0.0.1 for the end-to-end and browser tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.services import _free_port

__all__ = ["Server", "running_server"]


class Server:
    """``imgrec serve --workers N`` with its own IMGREC_HOME (SQLite); restartable on its port."""

    def __init__(self, home: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.workers = workers
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "serve.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        env = {**os.environ, "IMGREC_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        env.update(IMGREC_OFFLINE="1", **self.extra_env)
        env.pop("IMGREC_DB_URL", None)
        env.pop("IMGREC_TOKEN", None)
        command = [sys.executable, "-m", "imgrec", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"imgrec serve exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"imgrec serve did not answer /api/health in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (graceful: workers hand their trials back); the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def start_small_search(self, zip_bytes: bytes, *, epochs: int, trials: int = 3) -> int:
        """Upload ``zip_bytes`` and start a tiny search (simple_cnn, 16 px, no pruning); its id."""
        api = httpx.Client(base_url=self.url, timeout=60)
        dataset = api.post(
            "/api/datasets?name=shapes.zip",
            content=zip_bytes,
            headers={"content-type": "application/zip"},
        )
        assert dataset.status_code == 202, dataset.text
        dataset_id = dataset.json()["id"]
        while api.get(f"/api/datasets/{dataset_id}").json()["status"] == "checking":
            time.sleep(0.2)
        space = {
            "lr": {"low": 0.003, "high": 0.03, "log": True},
            "epochs": epochs,
            "model": "simple_cnn",
            "fixed": {"model.options.width": 8, "train.batch_size": 16},
        }
        made = api.post(
            "/api/experiments",
            json={
                "dataset_id": dataset_id,
                "space": space,
                "trials": trials,
                "pruner": "none",
                "image_size": 16,
            },
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def log_tail(self, lines: int = 60) -> str:
        logs = [self.log, *sorted((self.home / "web" / "logs").glob("*.log"))]
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-lines:])
            for path in logs
            if path.is_file()
        )


@contextmanager
def running_server(home: Path, *, workers: int = 1) -> Iterator[Server]:
    home.mkdir(parents=True, exist_ok=True)
    server = Server(home, workers=workers)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop(timeout_s=20)
