"""Queries the web server needs: paged and sorted run lists, and changes since a cursor.

Mixed into :class:`imgrec.store.Store`. The live feed polls :meth:`WebQueries.epochs_after`
(epoch rows carry an increasing id, the feed's cursor) and :meth:`WebQueries.run_states` (a
small fingerprint per run: a changed fingerprint means the run's row is sent again).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from imgrec.errors import StoreError
from imgrec.store.schemas import RUN_COLUMNS, EpochRecord, RunInfo
from imgrec.store.tables import EpochRow, EpochValueRow, RunMetricRow, RunRow

__all__ = ["SORTABLE_RUN_COLUMNS", "RunBrief", "WebQueries"]


SORTABLE_RUN_COLUMNS = tuple(
    c for c in RUN_COLUMNS if c not in ("run_dir", "error", "primary_metric")
)


def _sort_column(session: Session, name: str) -> Any:
    """A run column, or a final metric some run recorded (``accuracy``, ``map50``)."""
    if name in SORTABLE_RUN_COLUMNS:
        return getattr(RunRow, name)
    recorded = session.scalars(select(RunMetricRow.name).distinct()).all()
    if name in recorded:
        return (
            select(RunMetricRow.value)
            .where(RunMetricRow.run_id == RunRow.id, RunMetricRow.name == name)
            .scalar_subquery()
        )
    raise StoreError(
        f"cannot sort runs by '{name}'; one of: {', '.join(SORTABLE_RUN_COLUMNS)}"
        + (f", or a recorded metric: {', '.join(sorted(recorded))}." if recorded else ".")
    )


_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")


class RunBrief(NamedTuple):
    """The columns an experiment's progress needs (no JSON decoding: lists stay fast)."""

    id: int
    experiment_id: int | None
    trial_number: int | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    primary_metric: str | None
    primary_value: float | None
    latency_ms: float | None
    train_time_s: float | None


class WebQueries:
    """The web half of :class:`imgrec.store.Store`."""

    url: str

    def session(self) -> AbstractContextManager[Session]:  # provided by Store
        raise NotImplementedError

    def search_runs(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        experiment_id: int | None = None,
        text: str | None = None,
        sort: str = "-id",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[RunInfo]]:
        """``(total matching, one page of runs)``; ``sort`` is a column, ``-`` for descending."""
        where: list[ColumnElement[bool]] = []
        if status:
            where.append(RunRow.status == status)
        if model:
            where.append(RunRow.model == model)
        if experiment_id is not None:
            where.append(RunRow.experiment_id == experiment_id)
        if text:
            pattern = f"%{text.replace('%', '').replace('_', '')}%"
            where.append(or_(RunRow.name.ilike(pattern), RunRow.model.ilike(pattern)))
        with self.session() as s:
            column = _sort_column(s, sort.lstrip("-"))
            order = (column.desc() if sort.startswith("-") else column.asc()).nulls_last()
            total = s.scalar(select(func.count()).select_from(RunRow).where(*where)) or 0
            rows = s.scalars(
                select(RunRow)
                .where(*where)
                .order_by(order, RunRow.id.desc())
                .limit(max(1, min(limit, 1000)))
                .offset(max(0, offset))
            ).all()
            return int(total), [RunInfo.model_validate(r) for r in rows]

    def runs_by_ids(self, ids: Sequence[int]) -> list[RunInfo]:
        if not ids:
            return []
        with self.session() as s:
            rows = s.scalars(select(RunRow).where(RunRow.id.in_(list(ids))).order_by(RunRow.id))
            return [RunInfo.model_validate(r) for r in rows.all()]

    def run_briefs(self, experiment_ids: Sequence[int]) -> dict[int, list[RunBrief]]:
        """``{experiment id: [RunBrief, ...]}`` for several experiments in one query."""
        found: dict[int, list[RunBrief]] = {i: [] for i in experiment_ids}
        if not experiment_ids:
            return found
        columns = [getattr(RunRow, name) for name in RunBrief._fields]
        query = select(*columns).where(RunRow.experiment_id.in_(list(experiment_ids)))
        with self.session() as s:
            for row in s.execute(query.order_by(RunRow.id)).all():
                brief = RunBrief(*row)
                found[int(brief.experiment_id or 0)].append(brief)
        return found

    def run_states(
        self, *, experiment_id: int | None = None, run_id: int | None = None
    ) -> dict[int, tuple[Any, ...]]:
        """``{run id: fingerprint}`` of an experiment's runs (or one run)."""
        query = select(
            RunRow.id,
            RunRow.status,
            RunRow.epochs_completed,
            RunRow.started_at,
            RunRow.finished_at,
            RunRow.primary_value,
        )
        if experiment_id is not None:
            query = query.where(RunRow.experiment_id == experiment_id)
        if run_id is not None:
            query = query.where(RunRow.id == run_id)
        with self.session() as s:
            return {int(row[0]): tuple(row[1:]) for row in s.execute(query).all()}

    def epochs_after(
        self,
        cursor: int,
        *,
        experiment_id: int | None = None,
        run_id: int | None = None,
    ) -> list[EpochRecord]:
        """Epoch rows with an id above ``cursor``, oldest first, of an experiment or a run, each
        with its metrics by name (two plain-column queries, no ORM objects)."""
        query = _epochs_of(
            select(EpochRow.id, EpochRow.run_id, EpochRow.epoch)
            .where(EpochRow.id > cursor)
            .order_by(EpochRow.id),
            experiment_id=experiment_id,
            run_id=run_id,
        )
        with self.session() as s:
            rows = s.execute(query).all()
            values: dict[int, dict[str, float | None]] = {int(r[0]): {} for r in rows}
            if rows:
                named = select(EpochValueRow.epoch_id, EpochValueRow.name, EpochValueRow.value)
                for epoch_id, name, value in s.execute(
                    named.where(EpochValueRow.epoch_id.in_(list(values)))
                ).all():
                    values[int(epoch_id)][name] = value
        return [
            EpochRecord.model_validate({"id": i, "run_id": run, "epoch": epoch, **values[int(i)]})
            for i, run, epoch in rows
        ]

    def last_epoch_ids(
        self, count: int, *, experiment_id: int | None = None, run_id: int | None = None
    ) -> list[int]:
        """The ``count`` highest epoch ids of an experiment or a run, ascending."""
        query = _epochs_of(
            select(EpochRow.id).order_by(EpochRow.id.desc()).limit(count),
            experiment_id=experiment_id,
            run_id=run_id,
        )
        with self.session() as s:
            return sorted(int(i) for i in s.scalars(query).all())

    def best_epoch_values(
        self, experiment_id: int, metric: str, direction: str
    ) -> dict[int, float]:
        """Per run of the experiment: the best value of the per-epoch ``metric`` (``val_map``,
        ``val_loss``), the highest for ``direction`` ``"maximize"``, else the lowest."""
        best = func.max if direction == "maximize" else func.min
        query = _epochs_of(
            select(EpochRow.run_id, best(EpochValueRow.value))
            .join(EpochValueRow, EpochValueRow.epoch_id == EpochRow.id)
            .where(EpochValueRow.name == metric, EpochValueRow.value.is_not(None))
            .group_by(EpochRow.run_id),
            experiment_id=experiment_id,
        )
        with self.session() as s:
            return {int(run): float(value or 0.0) for run, value in s.execute(query).all()}

    def final_values(self, experiment_id: int, metric: str) -> dict[int, float]:
        """Per run of the experiment: its final ``metric`` (``accuracy``, ``map``), if recorded."""
        query = (
            select(RunMetricRow.run_id, RunMetricRow.value)
            .join(RunRow, RunRow.id == RunMetricRow.run_id)
            .where(RunRow.experiment_id == experiment_id, RunMetricRow.name == metric)
            .where(RunMetricRow.value.is_not(None))
        )
        with self.session() as s:
            return {int(run): float(value or 0.0) for run, value in s.execute(query).all()}


def _epochs_of(query: _Query, *, experiment_id: int | None, run_id: int | None = None) -> _Query:
    """``query`` over epoch rows narrowed to one run and/or one experiment's runs."""
    if run_id is not None:
        query = query.where(EpochRow.run_id == run_id)
    if experiment_id is not None:
        query = query.join(RunRow, RunRow.id == EpochRow.run_id).where(
            RunRow.experiment_id == experiment_id
        )
    return query
