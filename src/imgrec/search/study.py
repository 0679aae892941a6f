"""Optuna pieces: objectives, samplers, pruners and the study storage (heartbeat and retry).

The study lives in the run database itself (Optuna's RDB storage, its own tables next to
imgrec's). A trial whose worker stops sending heartbeats is marked failed by the next worker
that looks at the study and re-queued once per ``max_retry`` with the same parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import optuna

from imgrec.errors import ConfigError
from imgrec.search.objectives import (
    OBJECTIVE_METRICS,
    RUN_COSTS,
    objective_metrics,
    objective_value,
    per_epoch_metrics,
    resolve_objectives,
)
from imgrec.store import normalise_url

__all__ = [
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "RUN_COSTS",
    "SAMPLERS",
    "make_pruner",
    "make_sampler",
    "objective_metrics",
    "objective_value",
    "optuna_storage",
    "per_epoch_metrics",
    "resolve_objectives",
]

SAMPLERS = ("tpe", "random", "cmaes", "gp")
PRUNERS = ("median", "hyperband", "none")


def make_sampler(
    name: str, *, seed: int | None, multi_objective: bool
) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if multi_objective:
        raise ConfigError(
            f"sampler '{name}' handles one objective only; use tpe or random with two metrics."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed, warn_independent_sampling=False, n_startup_trials=3
            )
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5)
    raise ConfigError(f"unknown sampler '{name}'; one of: {', '.join(SAMPLERS)}.")


def make_pruner(name: str, *, max_epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":
        # Never on the first epoch (too noisy), and only once five trials have finished.
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, max_epochs))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner '{name}'; one of: {', '.join(PRUNERS)}.")


def optuna_storage(
    url: str,
    *,
    heartbeat_s: float,
    grace_s: float,
    max_retry: int = 1,
    on_failed: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.storages.RDBStorage:
    """Optuna's storage on the run database, with heartbeats and retry of dead trials."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def failed(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        retry(study, trial)
        if on_failed is not None:
            on_failed(study, trial)

    full = normalise_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if full.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            full,
            engine_kwargs=kwargs,
            heartbeat_interval=max(1, round(heartbeat_s)),
            grace_period=max(2, round(grace_s)),
            heartbeat_stale_trial_callback=failed,
        )
