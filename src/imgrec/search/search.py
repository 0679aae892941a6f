"""Creating an experiment and running it with local workers (in this process or K processes)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from imgrec.config import RunConfig, Settings
from imgrec.errors import ConfigError, RunError
from imgrec.search.progress import SearchProgress
from imgrec.search.space import SearchSpace
from imgrec.search.study import (
    PRUNERS,
    make_pruner,
    make_sampler,
    optuna_storage,
    per_epoch_metrics,
)
from imgrec.search.worker import Worker, finalise_if_done
from imgrec.store import ExperimentInfo, Store
from imgrec.store.tables import utcnow

__all__ = ["create_experiment", "run_local_workers"]


def create_experiment(
    store: Store,
    *,
    base: RunConfig,
    space: SearchSpace,
    objectives: Sequence[tuple[str, str]],
    sampler: str,
    pruner: str,
    n_trials: int,
    timeout_s: float | None,
    name: str | None,
    out: str | Path,
    settings: Settings,
) -> tuple[ExperimentInfo, list[str]]:
    """Validate the search settings, create the Optuna study and the experiment row.

    Returns the experiment and notes for the user (e.g. pruning switched off).
    """
    if name is not None and not re.match(r"^[A-Za-z][A-Za-z0-9_.-]*$", name):
        raise ConfigError(
            f"experiment name '{name}': start with a letter, then letters, digits, '_', '.' or "
            "'-' (a name of digits alone would read as an experiment id)."
        )
    if n_trials < 1:
        raise ConfigError(f"--trials must be at least 1 (got {n_trials}).")
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"--timeout must be positive (got {timeout_s} s).")
    notes: list[str] = []
    multi = len(objectives) > 1
    make_sampler(sampler, seed=0, multi_objective=multi)  # raises for an unknown or unfit one
    if pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner '{pruner}'; one of: {', '.join(PRUNERS)}.")
    per_epoch = per_epoch_metrics(base.task)
    if pruner != "none" and (multi or objectives[0][0] not in per_epoch):
        notes.append(
            f"pruning needs one per-epoch objective ({' or '.join(per_epoch)}); it is off for "
            "this search."
        )
        pruner = "none"
    make_pruner(pruner, max_epochs=space.max_epochs or 10)
    assert base.data.path is not None
    base.data.path = str(Path(base.data.path).resolve())
    name = name or f"tune-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    out_dir = (Path(out) / name).resolve()
    storage = optuna_storage(
        store.url, heartbeat_s=settings.heartbeat_s, grace_s=settings.heartbeat_grace_s
    )
    exp = store.create_experiment(
        name=name,
        data_path=base.data.path,
        space=space.to_dict(),
        base_config=base.model_dump(mode="json"),
        objectives=list(objectives),
        sampler=sampler,
        pruner=pruner,
        n_trials=n_trials,
        out_dir=str(out_dir),
        timeout_s=timeout_s,
        task=base.task,
    )
    optuna.create_study(
        study_name=name,
        storage=storage,
        directions=[optuna.study.StudyDirection[d.upper()] for _, d in objectives],
        load_if_exists=True,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    return exp, notes


def run_local_workers(
    exp: ExperimentInfo,
    *,
    url: str,
    settings: Settings,
    workers: int,
    show_progress: bool = True,
    verbose: bool = False,
) -> ExperimentInfo:
    """Run ``exp`` to the end with ``workers`` local workers; returns the finished experiment."""
    progress = SearchProgress(exp, workers=workers) if show_progress else None
    storage = optuna_storage(
        url, heartbeat_s=settings.heartbeat_s, grace_s=settings.heartbeat_grace_s
    )

    def report(_: Any = None) -> None:
        if progress is not None:
            study = optuna.load_study(study_name=exp.name, storage=storage)
            progress.update(study, deadline=exp.deadline, now=utcnow())

    with Store(url) as store:
        if workers == 1:
            Worker(
                url, settings, experiment=exp.name, show_progress=verbose, on_trial_end=report
            ).run(until_done=True)
        else:
            _run_processes(
                exp, url=url, workers=workers, report=report, store=store, storage=storage
            )
        finalise_if_done(store, storage, exp.name)
        report()
        return store.get_experiment(exp.name)


def _run_processes(
    exp: ExperimentInfo,
    *,
    url: str,
    workers: int,
    report: Any,
    store: Store,
    storage: optuna.storages.BaseStorage,
) -> None:
    command = [sys.executable, "-m", "imgrec", "worker", "--db", url, "--experiment", exp.name]
    processes = [
        subprocess.Popen([*command, "--until-done"], env=os.environ.copy()) for _ in range(workers)
    ]
    try:
        while any(p.poll() is None for p in processes):
            report()
            time.sleep(2.0)
    except KeyboardInterrupt:
        for p in processes:
            p.terminate()
        raise
    failed = [p.returncode for p in processes if p.returncode != 0]
    if failed and not finalise_if_done(store, storage, exp.name):
        raise RunError(
            f"{len(failed)} of {workers} workers exited with an error (codes {failed}); the "
            f"experiment '{exp.name}' is still open: `imgrec worker --experiment {exp.name}` "
            "continues it."
        )
