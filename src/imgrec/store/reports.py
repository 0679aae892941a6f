"""Runs as tables: flat rows, side-by-side comparison, CSV and JSON output."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from imgrec.store.schemas import RunInfo

__all__ = ["METRIC_KEYS", "compare_runs", "rows_to_csv", "rows_to_json", "summary_row"]

# Run columns shown with the metrics; each run's final metrics by name come between them.
METRIC_KEYS = (
    "status",
    "primary_metric",
    "primary_value",
    "best_val",
    "epochs_completed",
    "train_time_s",
    "latency_ms",
    "throughput",
)


def summary_row(run: RunInfo) -> dict[str, Any]:
    """The short row ``imgrec runs list`` shows."""
    where = f"{run.experiment_id}#{run.trial_number}" if run.experiment_id is not None else ""
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "model": run.model,
        "trial": where,
        "metric": run.primary_metric,
        "score": run.primary_value,
        "best_val": run.best_val,
        "epochs": run.epochs_completed,
        "train_s": run.train_time_s,
        "latency_ms": run.latency_ms,
        "created": run.created_at,
    }


def compare_runs(runs: Sequence[RunInfo], *, all_params: bool = False) -> list[dict[str, Any]]:
    """One row per parameter or metric, one column per run (``run <id>``).

    Parameters equal in every run are left out unless ``all_params``; metrics always show.
    """
    flats = [run.flat() for run in runs]
    columns = [f"run {run.id}" for run in runs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    scores = sorted({name for run in runs for name in run.scores})
    metric_keys = [*METRIC_KEYS[:3], *scores, *METRIC_KEYS[3:]]
    skip = {"id", "name", "run_dir", "created_at", "finished_at", "error", *metric_keys}
    rows: list[dict[str, Any]] = [
        {"key": "name", **dict(zip(columns, (r.name for r in runs), strict=True))}
    ]
    for key in keys:
        if key in skip:
            continue
        values = [flat.get(key) for flat in flats]
        if (
            not all_params
            and len({json.dumps(v, sort_keys=True, default=str) for v in values}) == 1
        ):
            continue
        rows.append({"key": key, **dict(zip(columns, values, strict=True))})
    for key in metric_keys:
        rows.append({"key": key, **dict(zip(columns, (f.get(key) for f in flats), strict=True))})
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def rows_to_csv(rows: Sequence[dict[str, Any]], stream: TextIO) -> None:
    """Rows with possibly different keys as one CSV (columns in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(v) for k, v in row.items()})


def rows_to_json(rows: Sequence[dict[str, Any]] | dict[str, Any]) -> str:
    return json.dumps(rows, indent=2, default=str)
