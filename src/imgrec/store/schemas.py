"""What the store hands out: pydantic records, never ORM objects (safe to print, JSON, send)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

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
    "primary_metric",
    "primary_value",
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
    """One epoch: its number and its metrics by name, flat (``epoch.val_accuracy``,
    ``epoch.val_map``); :meth:`value` reads a metric the epoch may not have."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=(), extra="allow")
    epoch: int

    @model_validator(mode="before")
    @classmethod
    def _flatten_rows(cls, data: Any) -> Any:
        """An ORM epoch row carries its metrics as ``values`` rows: make them fields."""
        rows = getattr(data, "values", None)
        if isinstance(data, dict) or not isinstance(rows, list):
            return data
        known = {k: getattr(data, k) for k in ("id", "run_id", "epoch") if k in cls.model_fields}
        return known | {row.name: row.value for row in rows}

    def value(self, name: str) -> float | None:
        """The metric ``name`` of this epoch, ``None`` when it was not recorded."""
        found = (self.model_extra or {}).get(name)
        return None if found is None else float(found)

    @property
    def values(self) -> dict[str, float]:
        """Every metric of the epoch by name."""
        return {k: float(v) for k, v in (self.model_extra or {}).items() if v is not None}


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
    primary_metric: str | None = None
    primary_value: float | None = None
    scores: dict[str, float | None] = {}  # None: the metric was NaN or infinite
    latency_ms: float | None
    throughput: float | None
    metrics: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _scores_by_name(cls, data: Any) -> Any:
        """An ORM run row carries its final metrics as ``scores`` rows: make them a dict."""
        rows = getattr(data, "scores", None)
        if isinstance(data, dict) or not isinstance(rows, list):
            return data
        fields = {k: getattr(data, k) for k in cls.model_fields if k != "scores"}
        return fields | {"scores": {row.name: row.value for row in rows}}

    def score(self, name: str) -> float | None:
        """A final metric by name (``accuracy``, ``macro_f1``, ``map``), ``None`` if absent."""
        return self.scores.get(name)

    @property
    def accuracy(self) -> float | None:
        """Test accuracy of a classification run (``None`` for other tasks)."""
        return self.scores.get("accuracy")

    def flat(self) -> dict[str, Any]:
        """One flat row for tables and CSV: fixed columns, each final metric by name, then
        ``param.*`` and config keys."""
        row: dict[str, Any] = {k: getattr(self, k) for k in RUN_COLUMNS}
        row.update(sorted(self.scores.items()))
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
