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


PARENT = """
import sys, time
from pathlib import Path
from imgrec.server import ServerConfig
from imgrec.server.workers import WorkerPool
home = Path(sys.argv[1])
pool = WorkerPool(ServerConfig(db_url=f"sqlite:///{home / 'db.sqlite'}", home=home, workers=1))
pool.start()
print(pool.processes[0].pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="PR_SET_PDEATHSIG is Linux only")
def test_workers_stop_when_the_server_is_killed(tmp_path: Path) -> None:
    """Even a server killed with SIGKILL (no shutdown code runs) leaves no worker behind."""
    import subprocess
    import sys

    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    time.sleep(1)
    assert Path(f"/proc/{worker}").exists()
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 60
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(worker), "the worker outlived its killed server"


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
