"""Hyperparameter search on Optuna (the package behind ``imgrec.tune``; named ``search`` so that
``imgrec.tune`` stays the function): bounds people understand, pruning, workers that scale out.

An experiment is an Optuna study in the run database; each trial is a recorded run. See
:func:`imgrec.tune` (``imgrec tune``) and :class:`imgrec.search.worker.Worker` (``imgrec worker``).
"""

from __future__ import annotations

from imgrec.search.search import create_experiment, run_local_workers
from imgrec.search.space import DEFAULT_SPACE, SEARCHABLE, SearchSpace, parse_space
from imgrec.search.study import OBJECTIVE_METRICS, PRUNERS, SAMPLERS, resolve_objectives
from imgrec.search.worker import Worker, finalise_if_done

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
