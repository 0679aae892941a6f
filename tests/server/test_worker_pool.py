"""The server's worker processes: started, started again when one dies, stopped."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from imgrec.server import ServerConfig
from imgrec.server.workers import WorkerPool

pytestmark = pytest.mark.slow


def test_a_dead_worker_is_started_again_and_all_stop(tmp_path: Path) -> None:
    config = ServerConfig(db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", home=tmp_path, workers=1)
    pool = WorkerPool(config)
    pool.start()
    try:
        first = pool.processes[0]
        assert pool.alive() == 1 and pool.respawn_dead() == 0
        assert os.getsid(first.pid) == first.pid  # its own session: a terminal's Ctrl-C skips it
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert pool.respawn_dead() == 1 and pool.restarts == 1
        assert pool.alive() == 1 and pool.processes[0].pid != first.pid
    finally:
        started = time.monotonic()
        pool.stop(timeout_s=30)
    assert pool.processes == [] and time.monotonic() - started < 30
    assert (tmp_path / "web" / "logs" / "worker-0.log").is_file()
