"""Hyperparameter search on Optuna: bounds people understand, pruning, workers that scale out.

An experiment is an Optuna study in the run database; each trial is a recorded run. See
:func:`imgrec.tune` (``imgrec tune``) and :class:`imgrec.tune.worker.Worker` (``imgrec worker``).
"""

from __future__ import annotations

from imgrec.tune.search import create_experiment, run_local_workers
from imgrec.tune.space import DEFAULT_SPACE, SEARCHABLE, SearchSpace, parse_space
from imgrec.tune.study import OBJECTIVE_METRICS, PRUNERS, SAMPLERS, resolve_objectives
from imgrec.tune.worker import Worker, finalise_if_done

__all__ = [
    "DEFAULT_SPACE",
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "SAMPLERS",
    "SEARCHABLE",
    "SearchSpace",
    "Worker",
    "create_experiment",
    "finalise_if_done",
    "parse_space",
    "resolve_objectives",
    "run_local_workers",
]
