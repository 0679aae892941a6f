"""An experiment's state for the pages, read from the run database only (no Optuna import).

Counts by state, the best objective value so far, elapsed time and the ETA (the same
:func:`imgrec.progress.search_eta` as ``imgrec tune``'s progress line, from the trials' recorded
start and end times).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imgrec.progress import search_eta
from imgrec.server.curves import task_metrics
from imgrec.server.schemas import ExperimentOut, Progress
from imgrec.store import ExperimentInfo, RunInfo, Store
from imgrec.store.tables import utcnow
from imgrec.store.web import RunBrief

AnyRun = RunInfo | RunBrief
RUN_COSTS = frozenset(task_metrics("classify")["run_costs"])  # latency_ms, train_time_s

__all__ = ["experiment_out", "objective_of", "trial_values"]


def objective_of(run: AnyRun, metric: str, recorded: dict[int, float]) -> float | None:
    """The run's value of the experiment's objective (None until it has one): a run cost
    (``latency_ms``, ``train_time_s``) from its row, any other metric from ``recorded``."""
    if metric in RUN_COSTS:  # the same for every task
        value = getattr(run, metric, None)
        return float(value) if isinstance(value, int | float) else None
    return recorded.get(run.id)


def trial_values(
    store: Store, exp: ExperimentInfo, runs: Sequence[AnyRun]
) -> dict[int, float | None]:
    """``{run id: objective value}`` for the experiment's completed trials: a per-epoch
    objective (``val_accuracy``, ``val_map``) at its best epoch, a final one as recorded."""
    metric, direction = exp.metrics[0], exp.directions[0]
    recorded: dict[int, float] = {}
    per_epoch = {m["name"] for m in task_metrics(exp.task)["metrics"] if m["per_epoch"]}
    if metric in per_epoch:
        recorded = store.best_epoch_values(exp.id, metric, direction)
    elif metric not in RUN_COSTS:
        recorded = store.final_values(exp.id, metric)
    return {r.id: objective_of(r, metric, recorded) for r in runs if r.status == "completed"}


def experiment_out(
    store: Store, exp: ExperimentInfo, runs: Sequence[AnyRun], *, uploads_dir: Path | None = None
) -> ExperimentOut:
    """The wire form of ``exp`` with its progress computed from its runs."""
    counts = dict.fromkeys(("completed", "pruned", "failed", "interrupted", "running", "queued"), 0)
    for run in runs:
        key = run.status if run.status in counts else "failed"
        counts[key] += 1
    active = counts["running"] + counts["queued"]
    done = max(0, min(exp.n_trials, exp.trials_claimed - active))
    if exp.status != "open":
        done = exp.n_trials if exp.status == "completed" else done
    now = utcnow()
    end = exp.finished_at or now
    elapsed = max(0.0, (end - exp.created_at).total_seconds())
    durations = [
        (r.finished_at - r.started_at).total_seconds()
        for r in runs
        if r.status in ("completed", "pruned") and r.finished_at and r.started_at
    ]
    eta: float | None = 0.0
    if exp.status == "open":
        eta = search_eta(
            remaining=exp.n_trials - done,
            mean_trial_s=sum(durations) / len(durations) if durations else None,
            parallel=counts["running"],
            deadline_in_s=(exp.deadline - now).total_seconds() if exp.deadline else None,
        )
    metric, direction = exp.metrics[0], exp.directions[0]
    values = [v for v in trial_values(store, exp, runs).values() if v is not None]
    best = None
    if values:
        best = max(values) if direction == "maximize" else min(values)
    return ExperimentOut(
        id=exp.id,
        name=exp.name,
        task=exp.task,
        status=exp.status,
        metric=metric,
        direction=direction,
        n_trials=exp.n_trials,
        sampler=exp.sampler,
        pruner=exp.pruner,
        created_at=exp.created_at,
        finished_at=exp.finished_at,
        best_run_id=exp.best_run_id,
        best_value=best,
        progress=Progress(
            done=done,
            complete=counts["completed"],
            pruned=counts["pruned"],
            failed=counts["failed"],
            interrupted=counts["interrupted"],
            running=counts["running"],
            queued=counts["queued"],
            total=exp.n_trials,
            fraction=done / exp.n_trials if exp.n_trials else 1.0,
            elapsed_s=elapsed,
            eta_s=eta,
        ),
        dataset_id=_dataset_id(exp.data_path, uploads_dir),
    )


def _dataset_id(data_path: str, uploads_dir: Path | None) -> str | None:
    path = Path(data_path)
    if uploads_dir is not None and path.name == "upload.zip" and path.parent.parent == uploads_dir:
        return path.parent.name
    return None
