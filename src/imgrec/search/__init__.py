"""Hyperparameter search on Optuna (the package behind ``imgrec.tune``; named ``search`` so that
``imgrec.tune`` stays the function): bounds people understand, pruning, workers that scale out.

An experiment is an Optuna study in the run database; each trial is a recorded run. See
:func:`imgrec.tune` (``imgrec tune``) and :class:`imgrec.search.worker.Worker` (``imgrec worker``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

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

# Lazy: the space and study helpers stay light (no torch) for the web server.
_LAZY = {
    "create_experiment": "imgrec.search.search",
    "run_local_workers": "imgrec.search.search",
    "DEFAULT_SPACE": "imgrec.search.space",
    "SEARCHABLE": "imgrec.search.space",
    "SearchSpace": "imgrec.search.space",
    "parse_space": "imgrec.search.space",
    "OBJECTIVE_METRICS": "imgrec.search.study",
    "PRUNERS": "imgrec.search.study",
    "SAMPLERS": "imgrec.search.study",
    "resolve_objectives": "imgrec.search.study",
    "Worker": "imgrec.search.worker",
    "finalise_if_done": "imgrec.search.worker",
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

if TYPE_CHECKING:
    from imgrec.search.search import create_experiment, run_local_workers
    from imgrec.search.space import DEFAULT_SPACE, SEARCHABLE, SearchSpace, parse_space
    from imgrec.search.study import OBJECTIVE_METRICS, PRUNERS, SAMPLERS, resolve_objectives
    from imgrec.search.worker import Worker, finalise_if_done
