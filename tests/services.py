"""Throwaway PostgreSQL for tests: a fresh database per test on a real server.

The server is, in order: ``IMGREC_TEST_PG_URL`` (an admin URL), the one on 127.0.0.1:5432 that
this project's machines run, or a private server started from Debian's ``postgresql`` binaries
(``initdb`` + ``pg_ctl``) in a temporary folder, listening on 127.0.0.1 only and stopped at the
end of the session. Without any of these the tests skip with the reason, except when
``IMGREC_REQUIRE_SERVICES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_server() -> Iterator[str | None]:
    """Start a PostgreSQL server of our own; yields its admin URL (None if impossible)."""
    binaries = sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = binaries[-1] if binaries else shutil.which("initdb")
    if initdb is None:
        yield None
        return
    bindir = Path(initdb).parent
    folder = Path(tempfile.mkdtemp(prefix="imgrec-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None:
            yield None
            return
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = folder / "data"
    log, server_log = folder / "commands.log", folder / "server.log"

    def run(*args: str) -> None:
        # The server inherits pg_ctl's output: a pipe would never close, so use a file.
        with log.open("a") as out:
            subprocess.run([*prefix, *args], check=True, stdout=out, stderr=out, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(server_log),
            "-o",
            options,
            "-w",
            "start",
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def skip_or_fail(reason: str) -> None:
    if os.environ.get("IMGREC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (IMGREC_REQUIRE_SERVICES=1: services must run here)")
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it afterwards."""
    import psycopg

    name = f"imgrec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_admin() -> Iterator[str | None]:
    """The admin URL of a reachable server (starting a private one if needed)."""
    url = os.environ.get("IMGREC_TEST_PG_URL", DEFAULT_ADMIN_URL)
    if _reachable(url):
        yield url
        return
    with private_server() as started:
        yield started if started and _reachable(started) else None


def kill_once_training(
    process: subprocess.Popen[bytes],
    store: object,
    *,
    timeout_s: float = 120,
    checkpointed: bool = False,
):
    """SIGKILL ``process`` as soon as the newest run in ``store`` has finished an epoch (and,
    with ``checkpointed``, written its checkpoint).

    Returns that run (as the store saw it just before the kill).
    """
    import signal
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = store.list_runs()  # type: ignore[attr-defined]
        ready = bool(runs) and runs[0].status == "running" and runs[0].epochs_completed >= 1
        if ready and checkpointed:
            ready = (Path(runs[0].run_dir) / "checkpoints" / "last.ckpt").is_file()
        if ready:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return runs[0]
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the process never finished an epoch of training within {timeout_s} s")
