"""The worker processes ``imgrec serve`` starts: ``python -m imgrec worker --wait`` each.

They share the server's database and home folder through the environment. On Linux each asks
the kernel for SIGTERM when the server process dies (``PR_SET_PDEATHSIG``), so even a server
killed with SIGKILL leaves no orphan workers; a worker stopped mid-trial hands its trial back to
the study with the same parameters, and the next worker (after a restart) runs it again.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

from imgrec.server.config import ServerConfig

__all__ = ["WorkerPool"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class WorkerPool:
    """Starts and stops ``config.workers`` worker processes."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {
            **os.environ,
            "IMGREC_DB_URL": self.config.db_url,
            "IMGREC_HOME": str(self.config.home),
            "PYTHONUNBUFFERED": "1",
        }
        logs = self.config.home / "web" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for index in range(self.config.workers):
            log = (logs / f"worker-{index}.log").open("ab")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "imgrec", "worker", "--wait"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            )
            log.close()

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.processes)

    def terminate(self) -> None:
        """SIGTERM every worker now (each hands its running trial back); does not wait."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every worker, wait for them, kill the ones still there after ``timeout_s``."""
        self.terminate()
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
