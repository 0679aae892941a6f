"""Run directories: unique names, the resolved config, and ``run.json`` (status and timings).

Layout of a run directory::

    config.yaml          the resolved configuration (what `--resume` reads back)
    run.json             status (running/completed/failed/interrupted), times, error text
    data_report.json     the dataset validation report
    splits.csv           every sample's path, label, split and content hash
    history.csv          one row per epoch
    checkpoints/         last.ckpt (pickle-free, every epoch) and best.safetensors
    model.safetensors    final weights (the best epoch's)
    card.json            the ModelCard
    metrics.json         evaluation report and timings
    per_class.csv, confusion_matrix.csv, *.png
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from imgrec._files import atomic_write_text
from imgrec.config import RunConfig
from imgrec.data.manifest import Manifest
from imgrec.errors import RunError

__all__ = [
    "CONFIG_FILE",
    "RUN_FILE",
    "SPLITS_FILE",
    "new_run_dir",
    "read_run_status",
    "read_splits",
    "saved_run_config",
    "update_run_status",
    "write_splits",
]

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
SPLITS_FILE = "splits.csv"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_dir(out: Path, *, name: str | None, model_name: str) -> Path:
    """Create and return a fresh directory under ``out``; a taken name gets ``-2``, ``-3``, ..."""
    stem = name or f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', model_name)}-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = out / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunError(f"{out}: could not find a free run directory name for {stem!r}.")


def read_run_status(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable run status ({exc}).") from exc
    return data if isinstance(data, dict) else {}


def update_run_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``run.json`` (atomic write) and return the new content."""
    data = read_run_status(run_dir)
    data.update(fields)
    data["updated"] = now_iso()
    atomic_write_text(run_dir / RUN_FILE, json.dumps(data, indent=2, default=str) + "\n")
    return data


def write_splits(manifest: Manifest, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split", "sha256"])
        for sample in manifest.samples:
            writer.writerow(
                [sample.path, manifest.classes[sample.label], sample.split, sample.sha256]
            )


def read_splits(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise RunError(f"{path}: missing; pass --data to evaluate on a dataset instead.")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def saved_run_config(run_dir: Path, *, data: Path | None = None) -> RunConfig:
    """The config a run trained with (``config.yaml``), its dataset replaced by ``data``.

    Raises:
        RunError: ``run_dir`` has no ``config.yaml`` (not made by imgrec).
    """
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise RunError(f"{run_dir}: {CONFIG_FILE} missing; not a run directory made by imgrec.")
    cfg = RunConfig.model_validate(yaml.safe_load(saved.read_text()))
    if data is not None:
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"path": str(data)})})
    return cfg
