"""The run database (SQLAlchemy 2 + Alembic; imports no torch, so the web process starts light).

>>> from imgrec.store import Store
>>> store = Store("sqlite:///runs.db")
>>> [run.name for run in store.list_runs(limit=5)]
"""

from __future__ import annotations

from imgrec.store.database import normalise_url, safe_url
from imgrec.store.schemas import (
    ArtifactInfo,
    DatasetInfo,
    EpochInfo,
    EpochRecord,
    ExperimentInfo,
    RunInfo,
)
from imgrec.store.store import Store, worker_id

__all__ = [
    "ArtifactInfo",
    "DatasetInfo",
    "EpochInfo",
    "EpochRecord",
    "ExperimentInfo",
    "RunInfo",
    "Store",
    "normalise_url",
    "safe_url",
    "worker_id",
]
