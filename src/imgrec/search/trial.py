"""One search trial: Optuna's suggestions -> a recorded training run -> the objective values.

Every trial is an ordinary run in the run database (``experiment_id`` and ``trial_number`` set)
with its own run directory under ``<experiment>/trials``. Pruning uses the per-epoch
validation metric: after each epoch the trial reports it, and if Optuna's pruner says stop, the
run ends as ``pruned`` (its checkpoint and epochs kept).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from imgrec.config import RunConfig, Settings, build_config
from imgrec.engine.fit import CHECKPOINT
from imgrec.engine.runner import run_training, was_interrupted
from imgrec.errors import RunStoppedError, StoreError
from imgrec.recorder import StoreRecorder
from imgrec.search.space import SearchSpace
from imgrec.search.study import objective_value, per_epoch_metrics
from imgrec.store import ExperimentInfo, RunInfo, Store

__all__ = [
    "RESUME_ATTR",
    "STOP_REQUESTED",
    "ExperimentCancelledError",
    "HandBacks",
    "TrialPrunedError",
    "TrialRecorder",
    "hand_back",
    "resumable_run",
    "run_trial",
]


class TrialPrunedError(RunStoppedError):
    """The pruner stopped this trial (recorded as ``pruned``)."""

    status = "pruned"


class ExperimentCancelledError(RunStoppedError):
    """Somebody cancelled the experiment while this trial trained."""

    status = "cancelled"


log = logging.getLogger("imgrec.search")

# Set by a worker's SIGTERM handler. The KeyboardInterrupt it also raises can be lost when it
# lands in a garbage-collector callback; then the trial stops at its next epoch instead.
STOP_REQUESTED = threading.Event()


class TrialRecorder(StoreRecorder):
    """Records the trial's run and reports every epoch to Optuna for pruning."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        *,
        trial: optuna.Trial,
        experiment_id: int,
        prune_metric: str | None,
        heartbeat_s: float,
        task: str = "classify",
    ) -> None:
        super().__init__(store, run_id, task=task, heartbeat_s=heartbeat_s)
        self.trial = trial
        self.experiment_id = experiment_id
        self.prune_metric = prune_metric

    def started(
        self, *, run_dir: Path, config: Mapping[str, Any], dataset: Mapping[str, Any]
    ) -> None:
        super().started(run_dir=run_dir, config=config, dataset=dataset)
        self.trial.set_user_attr("run_dir", str(run_dir.resolve()))

    def epoch(self, row: Mapping[str, float]) -> None:
        super().epoch(row)
        if STOP_REQUESTED.is_set():
            raise KeyboardInterrupt
        try:
            cancelled = self.store.get_experiment(self.experiment_id).status == "cancelled"
        except StoreError:
            cancelled = False
        if cancelled:
            raise ExperimentCancelledError("the experiment was cancelled")
        if self.prune_metric is None or self.prune_metric not in row:
            return
        epoch, value = int(row["epoch"]), float(row[self.prune_metric])
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise TrialPrunedError(
                f"pruned after epoch {epoch}: {self.prune_metric} {value:.4f} is not promising"
            )


def trial_config(
    exp: ExperimentInfo, space: SearchSpace, params: Mapping[str, Any], number: int
) -> RunConfig:
    """The run config of trial ``number`` of ``exp`` with ``params``."""
    base = RunConfig.model_validate(exp.base_config)
    cfg = build_config((f"trial {number}", space.config_overrides(params)), base=base)
    cfg.out = str(Path(exp.out_dir) / "trials")
    cfg.name = f"trial-{number:03d}"
    return cfg


RESUME_ATTR = "resume_run_id"


def resumable_run(store: Store, trial: optuna.Trial) -> RunInfo | None:
    """The run this retried trial continues from its last checkpoint, if there is one.

    A stopped worker names its interrupted run (:func:`hand_back`); Optuna's heartbeat retry of a
    dead worker's trial inherits that trial's ``run_id`` (failed by the heartbeat reaper).
    """
    ref = trial.user_attrs.get(RESUME_ATTR)
    wanted = "interrupted"
    if ref is None:
        ref, wanted = trial.user_attrs.get("run_id"), "failed"
    if ref is None:
        return None
    try:
        run = store.get_run(int(ref))
    except StoreError:
        return None
    if run.status != wanted or not run.run_dir:
        return None
    if wanted == "failed" and "stopped sending heartbeats" not in (run.error or ""):
        return None
    return run if (Path(run.run_dir) / CHECKPOINT).is_file() else None


class HandBacks:
    """How many trials this process handed back (the worker checks it after an interrupt)."""

    count = 0


def hand_back(
    trial: optuna.Trial, *, store: Store, experiment_id: int, run_id: int | None = None
) -> None:
    """A stopped worker (Ctrl-C, SIGTERM) queues its trial again with the same parameters and
    frees its slot, so the next worker runs it: from the run's last checkpoint when there is one.

    Optuna marks the interrupted trial failed right after this, so nothing else would retry it.
    """
    HandBacks.count += 1
    attrs: dict[str, Any] = {"retry_of": trial.number}
    if run_id is not None:
        attrs[RESUME_ATTR] = run_id
    try:
        trial.study.enqueue_trial(trial.params, user_attrs=attrs)
    except Exception as exc:  # the slot below still frees: a new trial runs
        log.warning(
            "could not queue trial %d again (%s); a new trial replaces it", trial.number, exc
        )
    try:
        store.release_trial(experiment_id)
    except Exception as exc:
        log.warning("could not free the slot of trial %d (%s)", trial.number, exc)


def run_trial(
    trial: optuna.Trial,
    *,
    exp: ExperimentInfo,
    store: Store,
    settings: Settings,
    show_progress: bool = False,
) -> float | Sequence[float]:
    """Optuna's objective: train one configuration and return its objective value(s)."""
    space = SearchSpace.from_dict(exp.space)
    params = space.suggest(trial)
    cfg = trial_config(exp, space, params, trial.number)
    previous = resumable_run(store, trial)
    run_dir = Path(previous.run_dir) if previous is not None and previous.run_dir else None
    if previous is None:
        run_id = store.create_run(
            name=cfg.name or f"trial-{trial.number}",
            model=cfg.model.name,
            config=cfg.model_dump(mode="json"),
            task=cfg.task,
            experiment_id=exp.id,
            trial_number=trial.number,
            params=params,
        )
    else:
        run_id = previous.id
        store.set_trial_number(run_id, trial.number)
        sys.stderr.write(
            f"trial {trial.number}: resuming run {run_id} (trial {previous.trial_number}, "
            f"{previous.status} after epoch {previous.epochs_completed}) from its checkpoint in "
            f"{run_dir}\n"
        )
    trial.set_user_attr("run_id", run_id)
    metrics = [m for m, _ in exp.objectives]
    per_epoch = per_epoch_metrics(exp.task)
    prune_metric = metrics[0] if len(metrics) == 1 and metrics[0] in per_epoch else None
    recorder = TrialRecorder(
        store,
        run_id,
        trial=trial,
        experiment_id=exp.id,
        prune_metric=prune_metric,  # reported with any pruner: curves and epoch counts
        heartbeat_s=settings.heartbeat_s,
        task=exp.task,
    )
    if previous is not None and prune_metric is not None:  # the pruner sees the whole curve
        for row in store.epochs(run_id):
            value = row.value(prune_metric)
            if value is not None:
                trial.report(float(value), step=row.epoch)
    try:
        outcome = run_training(
            cfg, settings=settings, observer=recorder, show_progress=show_progress, run_dir=run_dir
        )
    except TrialPrunedError as exc:
        raise optuna.TrialPruned(str(exc)) from exc
    except (KeyboardInterrupt, SystemExit) as exc:
        if not was_interrupted(exc):
            raise
        hand_back(trial, store=store, experiment_id=exp.id, run_id=run_id)
        raise KeyboardInterrupt from exc  # Optuna fails the trial; the worker stops
    history = [e.model_dump() for e in store.epochs(run_id)]
    values = [objective_value(m, outcome, history, task=exp.task) for m in metrics]
    return values[0] if len(values) == 1 else values
