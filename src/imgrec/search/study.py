"""Optuna pieces: objectives, samplers, pruners and the study storage (heartbeat and retry).

The study lives in the run database itself (Optuna's RDB storage, its own tables next to
imgrec's). A trial whose worker stops sending heartbeats is marked failed by the next worker
that looks at the study and re-queued once per ``max_retry`` with the same parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from imgrec.errors import ConfigError
from imgrec.store import normalise_url

__all__ = [
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "SAMPLERS",
    "make_pruner",
    "make_sampler",
    "objective_value",
    "optuna_storage",
    "resolve_objectives",
]

# metric -> its natural direction
OBJECTIVE_METRICS = {
    "val_accuracy": "maximize",
    "val_loss": "minimize",
    "accuracy": "maximize",
    "macro_f1": "maximize",
    "loss": "minimize",
    "latency_ms": "minimize",
    "train_time_s": "minimize",
}
PER_EPOCH_METRICS = ("val_accuracy", "val_loss")
SAMPLERS = ("tpe", "random", "cmaes", "gp")
PRUNERS = ("median", "hyperband", "none")


def resolve_objectives(
    metrics: Sequence[str], directions: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """``[(metric, direction), ...]``: directions default to each metric's natural one."""
    if not metrics:
        metrics = ["val_accuracy"]
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
        if metric not in OBJECTIVE_METRICS:
            raise ConfigError(
                f"unknown objective metric '{metric}'; one of: {', '.join(OBJECTIVE_METRICS)}."
            )
        direction = directions[i] if directions else OBJECTIVE_METRICS[metric]
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"--direction must be maximize or minimize (got '{direction}').")
        out.append((metric, direction))
    if len({m for m, _ in out}) != len(out):
        raise ConfigError("the two objectives must be different metrics.")
    return out


def objective_value(
    metric: str, metrics: Mapping[str, Any], history: Sequence[Mapping[str, float]]
) -> float:
    """A finished trial's value for ``metric`` (the best epoch for per-epoch metrics)."""
    if metric in PER_EPOCH_METRICS:
        values = [float(row[metric]) for row in history if row.get(metric) is not None]
        if not values:
            raise ConfigError(
                f"objective '{metric}' needs a validation split; the dataset has none "
                "(set data.val_fraction > 0)."
            )
        return max(values) if metric == "val_accuracy" else min(values)
    if metric == "latency_ms":
        return float(metrics["inference"]["latency_batch1"]["p50_ms"])
    if metric == "train_time_s":
        return float(metrics["training"]["wall_time_s"])
    return float(metrics[metric])


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
