"""Helpers shared by the benchmark scripts (not a test module)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"), **data}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def ensure_fashion_mnist() -> Path:
    """The Debian package's IDX folder; installs the package when apt is usable."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"], check=True)
    return FASHION_MNIST
