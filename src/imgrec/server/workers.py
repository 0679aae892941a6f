"""The worker processes ``imgrec serve`` starts: ``python -m imgrec worker --wait`` each.

They share the server's database and home folder through the environment, and run in their own
session (a Ctrl-C in the server's terminal reaches only the server, which then stops them). On
Linux each asks the kernel for SIGTERM when the server process dies (``PR_SET_PDEATHSIG``), so
even a server killed with SIGKILL leaves no orphan workers. A worker stopped mid-trial hands its
trial back to the study with the same parameters; the next worker (after a restart) runs it
again. A worker that dies (out of memory, say) is started again by :meth:`WorkerPool.supervise`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from imgrec.server.config import ServerConfig

__all__ = ["WorkerPool"]

log = logging.getLogger("imgrec.server")
_PR_SET_PDEATHSIG = 1
_PRCTL: Any = None
if sys.platform == "linux":  # looked up here, in the parent: the child must not load libraries
    try:
        _PRCTL = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        _PRCTL = None


def _die_with_parent(parent: int) -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the server died before the call: no signal would come
        os._exit(1)


class WorkerPool:
    """Starts, watches and stops ``config.workers`` worker processes."""

    def __init__(self, config: ServerConfig, *, check_s: float = 5.0) -> None:
        self.config = config
        self.check_s = check_s
        self.processes: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stopping = False

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "IMGREC_DB_URL": self.config.db_url,
            "IMGREC_HOME": str(self.config.home),
            "PYTHONUNBUFFERED": "1",
        }
        logs = self.config.home / "web" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        parent = os.getpid()
        with (logs / f"worker-{index}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "imgrec", "worker", "--wait"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=(lambda: _die_with_parent(parent)) if _PRCTL is not None else None,
            )

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.config.workers)]

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.processes)

    def respawn_dead(self) -> int:
        """Start again every worker that exited; how many were started."""
        started = 0
        for index, process in enumerate(self.processes):
            if self._stopping or process.poll() is None:
                continue
            log.warning(
                "worker %d (pid %d) exited with %s; starting it again (log: %s)",
                index,
                process.pid,
                process.returncode,
                self.config.home / "web" / "logs" / f"worker-{index}.log",
            )
            self.processes[index] = self._spawn(index)
            self.restarts += 1
            started += 1
        return started

    async def supervise(self) -> None:
        """Every ``check_s`` seconds, start again the workers that died (until stopped)."""
        while not self._stopping:
            await asyncio.sleep(self.check_s)
            self.respawn_dead()

    def terminate(self) -> None:
        """SIGTERM every worker once (each hands its running trial back); does not wait."""
        if self._stopping:
            return
        self._stopping = True
        for process in self.processes:
            if process.poll() is None:
                process.terminate()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Terminate the workers, wait for them, kill the ones still there after ``timeout_s``."""
        self.terminate()
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
