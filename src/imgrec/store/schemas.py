"""What the store hands out: pydantic records, never ORM objects (safe to print, JSON, send)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "RUN_COLUMNS",
    "ArtifactInfo",
    "DatasetInfo",
    "EpochInfo",
    "EpochRecord",
    "ExperimentInfo",
    "RunInfo",
]


# The fixed columns of a run row (tables, CSV, sorting), in display order.
RUN_COLUMNS = (
    "id",
    "name",
    "status",
    "model",
    "experiment_id",
    "trial_number",
    "accuracy",
    "macro_f1",
    "best_val",
    "epochs_completed",
    "train_time_s",
    "latency_ms",
    "throughput",
    "created_at",
    "finished_at",
    "run_dir",
    "error",
)


class _Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())


class DatasetInfo(_Record):
    id: int
    fingerprint: str
    source: str
    layout: str
    num_classes: int
    num_images: int
    counts: dict[str, Any]
    created_at: datetime


class EpochInfo(_Record):
    epoch: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    lr: float | None = None
    epoch_time_s: float | None = None


class EpochRecord(EpochInfo):
    """An epoch row with its id (the live feed's cursor) and its run."""

    id: int
    run_id: int


class ArtifactInfo(_Record):
    kind: str
    path: str
    size_bytes: int | None = None


class RunInfo(_Record):
    """A run as recorded: identity, state, timings and final metrics."""

    id: int
    name: str
    run_dir: str | None
    experiment_id: int | None
    trial_number: int | None
    dataset_id: int | None
    task: str
    model: str
    config: dict[str, Any]
    params: dict[str, Any]
    status: str
    error: str | None
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    epochs_completed: int
    best_epoch: int | None
    best_val: float | None
    train_time_s: float | None
    accuracy: float | None
    macro_f1: float | None
    test_loss: float | None
    latency_ms: float | None
    throughput: float | None
    metrics: dict[str, Any]

    def flat(self) -> dict[str, Any]:
        """One flat row for tables and CSV: fixed columns, then ``param.*`` and config keys."""
        row: dict[str, Any] = {k: getattr(self, k) for k in RUN_COLUMNS}
        row.update({f"param.{k}": v for k, v in sorted(self.params.items())})
        for section in ("data", "model", "train"):
            values = self.config.get(section)
            if isinstance(values, dict):
                row.update({f"{section}.{k}": v for k, v in values.items()})
        return row


class ExperimentInfo(_Record):
    """A search: its study, bounds, objectives, progress and best run."""

    id: int
    name: str
    task: str
    data_path: str
    space: dict[str, Any]
    base_config: dict[str, Any]
    objectives: list[Any]
    sampler: str
    pruner: str
    n_trials: int
    trials_claimed: int
    deadline: datetime | None
    status: str
    out_dir: str
    best_run_id: int | None
    summary: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None

    @property
    def directions(self) -> list[str]:
        return [str(d) for _, d in self.objectives]

    @property
    def metrics(self) -> list[str]:
        return [str(m) for m, _ in self.objectives]
