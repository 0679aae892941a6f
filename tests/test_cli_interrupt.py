"""Ctrl-C and SIGTERM stop `imgrec train` with one line saying how to resume, exit 130 / 143, and
leave the run recorded `interrupted` with the reason (run.json, run database, `imgrec runs`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgrec.api import open_store
from imgrec.cli import app

IMGREC = str(Path(sys.executable).with_name("imgrec"))


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background shell may have ignored it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
def test_an_interrupted_train_says_how_to_resume_and_is_recorded_interrupted(
    shapes_dir: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    run_dir = tmp_path / "runs" / "stopped"
    command = [IMGREC, "train", str(shapes_dir), "--epochs", "50", "--img-size", "16",
               "--batch-size", "8", "-o", "width=8", "--out", str(tmp_path / "runs"),
               "--name", "stopped"]  # fmt: skip
    process = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # IMGREC_HOME: this test's own
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,  # only resets one signal before exec
    )
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 180
    while not checkpoint.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no checkpoint before the end or 180 s:\n{process.communicate()[1]}")
        time.sleep(0.2)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == code, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {'Ctrl-C (SIGINT)' if code == 130 else 'SIGTERM'}")
    assert " at epoch " in last and f"resume with: imgrec train --resume {run_dir}" in last
    assert "Traceback" not in stderr
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "interrupted" and status["error"] == last
    (run,) = open_store().list_runs()
    assert run.status == "interrupted" and run.error == last
    listed = CliRunner().invoke(
        app, ["runs", "list", "--status", "interrupted", "--format", "json"]
    )
    assert listed.exit_code == 0 and [r["name"] for r in json.loads(listed.output)] == ["stopped"]
