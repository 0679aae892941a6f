"""``imgrec doctor``: what this machine can do, and the classic set-up traps with their fixes."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["collect_report", "render_report"]


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version if a driver is loaded on this machine, else None."""
    version_file = Path("/proc/driver/nvidia/version")
    if version_file.is_file():
        text = version_file.read_text(errors="replace")
        for token in text.split():
            if token[:1].isdigit() and "." in token:
                return token
        return "unknown"
    if shutil.which("nvidia-smi"):
        try:
            done = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = done.stdout.strip().splitlines()
        return lines[0].strip() if done.returncode == 0 and lines else None
    return None


def _torchvision_ops() -> str | None:
    """None when torchvision's C++ ops work, else the error text."""
    try:
        import torch
        import torchvision

        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    except Exception as exc:  # any failure here is exactly what we report
        return f"{type(exc).__name__}: {exc}"
    return None


def collect_report(home: Path | None = None) -> dict[str, Any]:
    """Facts about Python, torch and accelerators, plus ``problems`` (level, what, fix)."""
    problems: list[dict[str, str]] = []
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "executable": sys.executable,
    }
    try:
        import torch
        import torchvision
    except Exception as exc:
        report["torch"] = None
        problems.append(
            {
                "level": "error",
                "what": f"torch/torchvision cannot be imported ({exc})",
                "fix": "reinstall: `make setup` or `pip install torch torchvision`",
            }
        )
        report["problems"] = problems
        return report
    report["torch"] = torch.__version__
    report["torchvision"] = torchvision.__version__
    report["torch_cuda_build"] = torch.version.cuda
    report["cudnn"] = (
        torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    )
    report["cpu_threads"] = torch.get_num_threads()
    report["cuda_available"] = torch.cuda.is_available()
    report["mps_available"] = bool(torch.backends.mps.is_available())
    report["gpus"] = (
        [
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
            }
            for i in range(torch.cuda.device_count())
        ]
        if torch.cuda.is_available()
        else []
    )
    driver = _nvidia_driver()
    report["nvidia_driver"] = driver
    if driver and torch.version.cuda is None:
        problems.append(
            {
                "level": "warning",
                "what": f"an NVIDIA driver ({driver}) is present but this torch is a "
                "CPU-only build",
                "fix": "install the CUDA build of torch from PyPI (the default build on Linux)",
            }
        )
    elif driver and not torch.cuda.is_available():
        problems.append(
            {
                "level": "warning",
                "what": f"NVIDIA driver {driver} is loaded but torch (CUDA {torch.version.cuda}) "
                "cannot use it: the driver is probably older than this CUDA build needs, "
                "or CUDA_VISIBLE_DEVICES hides the GPUs",
                "fix": "update the driver, or install a torch build for an older CUDA; check "
                "CUDA_VISIBLE_DEVICES",
            }
        )
    ops_error = _torchvision_ops()
    report["torchvision_ops"] = "ok" if ops_error is None else ops_error
    if ops_error:
        problems.append(
            {
                "level": "error",
                "what": f"torchvision's compiled ops do not work ({ops_error})",
                "fix": "torch and torchvision versions do not match: reinstall them together "
                "(`make setup`), never pin torch alone",
            }
        )
    if not report["cuda_available"] and not report["mps_available"]:
        problems.append(
            {
                "level": "info",
                "what": "no GPU: training runs on the CPU",
                "fix": "fine for small images (<= 64 px) and small models; use a GPU for more",
            }
        )
    if home is not None:
        report["imgrec_home"] = str(home)
        usage = shutil.disk_usage(
            home if home.exists() else home.parent if home.parent.exists() else Path("/")
        )
        report["disk_free_gib"] = round(usage.free / 2**30, 1)
    report["problems"] = problems
    return report


def render_report(report: dict[str, Any]) -> str:
    """Plain-text view of :func:`collect_report`."""
    keys = [
        "python",
        "platform",
        "torch",
        "torchvision",
        "torch_cuda_build",
        "cudnn",
        "cuda_available",
        "mps_available",
        "nvidia_driver",
        "torchvision_ops",
        "cpu_threads",
        "imgrec_home",
        "disk_free_gib",
    ]
    lines = [f"{k:<17} {report[k]}" for k in keys if k in report]
    for gpu in report.get("gpus", []):
        lines.append(
            f"gpu {gpu['index']:<13} {gpu['name']} "
            f"({gpu['memory_gib']} GiB, sm {gpu['capability']})"
        )
    for problem in report["problems"]:
        lines.append(f"{problem['level'].upper()}: {problem['what']}\n  fix: {problem['fix']}")
    if not any(p["level"] in {"error", "warning"} for p in report["problems"]):
        lines.append("no set-up problems found")
    return "\n".join(lines)
