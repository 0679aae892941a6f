"""A segmentation or instance-segmentation run killed with SIGKILL resumes from its last
checkpoint through the command line and finishes with one history row per epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

IMGREC = str(Path(sys.executable).with_name("imgrec"))


def _imgrec(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IMGREC_HOME": str(home)}
    return subprocess.run([IMGREC, *args], env=env, capture_output=True, text=True, check=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "option"),
    [("segment", ["-o", "width=8", "-o", "depth=2"]), ("instance", ["-o", "width=8"])],
)
def test_a_killed_mask_run_resumes_and_completes(
    tmp_path: Path, task: str, option: list[str]
) -> None:
    home = tmp_path / "home"
    data = tmp_path / "data"
    _imgrec("data", "synth", str(data), "--task", task, "--per-class", "3", "--img-size", "32",
            home=home)  # fmt: skip
    run_dir = tmp_path / "runs" / "killed"
    env = {**os.environ, "IMGREC_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    command = [IMGREC, "train", str(data), "--task", task, *option, "--epochs", "40",
               "--img-size", "32", "--batch-size", "4", "--out", str(tmp_path / "runs"),
               "--name", "killed", "--no-record"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    try:
        while not checkpoint.exists():
            assert process.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        time.sleep(0.5)  # let the checkpoint file be complete (it is written by rename)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "running" and not (run_dir / "model.safetensors").exists()
    trained = int(status.get("last_epoch") or 0)
    total = max(3, trained + 1)
    done = _imgrec("train", "--resume", str(run_dir), "--epochs", str(total), home=home)
    assert Path(done.stdout.strip().splitlines()[-1]) == run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["epochs_completed"] == total
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + total
    monitor = "val_miou" if task == "segment" else "val_mask_map"
    assert monitor in history[0]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
