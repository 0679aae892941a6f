"""DDP through Lightning on CPU (gloo): two processes share one run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_two_process_ddp_on_cpu_writes_one_run(shapes_dir: Path, tmp_path: Path) -> None:
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    env = {**os.environ, "IMGREC_HOME": str(tmp_path / "home")}
    env.pop("IMGREC_RUN_DIR", None)
    done = subprocess.run(
        [imgrec, "train", str(shapes_dir), "--epochs", "2", "--img-size", "16", "--device", "cpu",
         "--devices", "2", "--strategy", "ddp", "--out", str(tmp_path / "runs"), "--name", "ddp"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]
    run_dir = tmp_path / "runs" / "ddp"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["epochs_completed"] == 2
    assert done.stdout.strip().splitlines()[-1] == str(run_dir)
