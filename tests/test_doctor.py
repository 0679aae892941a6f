"""`imgrec doctor`: facts, and each set-up trap detected with its fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from imgrec import doctor


def test_report_has_the_facts(tmp_path: Path) -> None:
    report = doctor.collect_report(home=tmp_path)
    assert report["torch"] == torch.__version__
    assert report["torchvision_ops"] == "ok"
    assert report["cuda_available"] == torch.cuda.is_available()
    assert isinstance(report["gpus"], list)
    text = doctor.render_report(report)
    assert "torch" in text and "torchvision_ops" in text


def test_cpu_only_torch_on_a_gpu_machine_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_nvidia_driver", lambda: "550.54")
    monkeypatch.setattr(torch.version, "cuda", None)
    problems = doctor.collect_report()["problems"]
    assert any("CPU-only build" in p["what"] and p["level"] == "warning" for p in problems)


def test_driver_that_torch_cannot_use_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_nvidia_driver", lambda: "418.00")
    monkeypatch.setattr(torch.version, "cuda", "13.2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problems = doctor.collect_report()["problems"]
    assert any("driver" in p["what"] and "update the driver" in p["fix"] for p in problems)


def test_broken_torchvision_ops_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = "RuntimeError: operator torchvision::nms does not exist"
    monkeypatch.setattr(doctor, "_torchvision_ops", lambda: message)
    report = doctor.collect_report()
    assert report["torchvision_ops"] == message
    error = next(p for p in report["problems"] if p["level"] == "error")
    assert "do not match" in error["fix"]


def test_cli_doctor_json(tmp_path: Path) -> None:
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    done = subprocess.run(
        [imgrec, "doctor", "--json"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["torchvision_ops"] == "ok"
