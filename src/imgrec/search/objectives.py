"""What a search optimises: each task's declared metrics plus the run's costs (no Optuna here,
so the web server reads objectives without importing it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imgrec.engine.outcome import RunOutcome
from imgrec.errors import ConfigError
from imgrec.tasks.registry import get_task

__all__ = [
    "OBJECTIVE_METRICS",
    "PER_EPOCH_METRICS",
    "RUN_COSTS",
    "objective_metrics",
    "objective_value",
    "per_epoch_metrics",
    "resolve_objectives",
]

# Objectives every task has, whatever it measures: the run's cost.
RUN_COSTS = {"latency_ms": "minimize", "train_time_s": "minimize"}


def objective_metrics(task: str = "classify") -> dict[str, str]:
    """``{metric: natural direction}`` a search of ``task`` can optimise: the task's declared
    metrics (``val_accuracy``, ``val_map``, ``map``, ...) and the run costs."""
    spec = get_task(task)
    declared = {m.name: "maximize" if m.direction == "max" else "minimize" for m in spec.metrics}
    return declared | RUN_COSTS


def per_epoch_metrics(task: str = "classify") -> tuple[str, ...]:
    """The task's metrics logged every epoch (they can prune a trial)."""
    return tuple(m.name for m in get_task(task).metrics if m.per_epoch)


# The classification objectives, for callers that name no task.
OBJECTIVE_METRICS = objective_metrics("classify")
PER_EPOCH_METRICS = per_epoch_metrics("classify")


def resolve_objectives(
    metrics: Sequence[str], directions: Sequence[str] = (), *, task: str = "classify"
) -> list[tuple[str, str]]:
    """``[(metric, direction), ...]``: directions default to each metric's natural one; no
    metric means the task's monitor (``val_accuracy`` for classify, ``val_map`` for detect)."""
    known = objective_metrics(task)
    if not metrics:
        metrics = [get_task(task).monitor.name]
    if len(metrics) > 2:
        raise ConfigError(
            "at most two objectives (e.g. --metric val_accuracy --metric latency_ms)."
        )
    if directions and len(directions) != len(metrics):
        raise ConfigError(
            f"{len(directions)} --direction for {len(metrics)} --metric; give one per metric "
            "or none."
        )
    out = []
    for i, metric in enumerate(metrics):
        if metric not in known:
            raise ConfigError(
                f"unknown objective metric '{metric}' for task '{task}'; one of: "
                f"{', '.join(known)}."
            )
        direction = directions[i] if directions else known[metric]
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"--direction must be maximize or minimize (got '{direction}').")
        out.append((metric, direction))
    if len({m for m, _ in out}) != len(out):
        raise ConfigError("the two objectives must be different metrics.")
    return out


def objective_value(
    metric: str,
    result: RunOutcome | Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    *,
    task: str = "classify",
) -> float:
    """A finished trial's value for ``metric`` (the best epoch for per-epoch metrics).

    ``result`` is the run's :class:`~imgrec.engine.outcome.RunOutcome` or its ``metrics.json``.
    """
    if metric in per_epoch_metrics(task):
        values = [float(row[metric]) for row in history if row.get(metric) is not None]
        if not values:
            raise ConfigError(
                f"objective '{metric}' needs a validation split; the dataset has none "
                "(set data.val_fraction > 0)."
            )
        maximise = get_task(task).metric(metric).direction == "max"
        return max(values) if maximise else min(values)
    outcome = (
        result
        if isinstance(result, RunOutcome)
        else RunOutcome.from_report(
            result, run_dir=Path(), task=task, primary_metric=get_task(task).summary_metric
        )
    )
    value = {"latency_ms": outcome.latency_ms, "train_time_s": outcome.train_time_s}.get(
        metric, outcome.score(metric)
    )
    if value is None:
        raise ConfigError(f"the finished run has no '{metric}' to optimise.")
    return value
