"""The run database: one :class:`Store` per URL, one short transaction per call.

Every public method opens a session, commits, and turns database errors into
:class:`~imgrec.errors.StoreError` that names the database (Optuna's ``_create_scoped_session``).
Readers get :mod:`imgrec.store.schemas` records, never live ORM objects.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from imgrec.errors import NotFoundError, StoreError
from imgrec.store.database import create_db_engine, migrate, safe_url
from imgrec.store.experiments import ExperimentQueries
from imgrec.store.schemas import ArtifactInfo, DatasetInfo, EpochInfo, RunInfo
from imgrec.store.tables import (
    ACTIVE_STATES,
    RUN_STATES,
    ArtifactRow,
    DatasetRow,
    EpochRow,
    EpochValueRow,
    ExperimentRow,
    RunMetricRow,
    RunRow,
    utcnow,
)
from imgrec.store.web import WebQueries

__all__ = ["Store", "worker_id"]


def worker_id() -> str:
    """``host:pid`` of this process, recorded on the runs it executes."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Store(ExperimentQueries, WebQueries):
    """Typed access to datasets, experiments, runs, epoch metrics and artifacts.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql://...``).
        migrate_schema: Create or upgrade the tables first (the default).
    """

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine: Engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate_schema:
            migrate(self.engine)

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r})"

    def close(self) -> None:
        """Release the connection pool (the store stays usable: a later call reconnects)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back and raises StoreError on failure."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(
                f"run database {safe_url(self.url)}: {type(exc).__name__}: "
                f"{getattr(exc, 'orig', None) or exc}"
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # datasets ---------------------------------------------------------------------------------

    def upsert_dataset(
        self,
        *,
        fingerprint: str,
        source: str,
        layout: str,
        num_classes: int,
        num_images: int,
        counts: Mapping[str, Any],
        report: Mapping[str, Any],
    ) -> int:
        """The id of the dataset with ``fingerprint``, inserting it the first time."""
        with self.session() as s:
            found = s.scalar(select(DatasetRow.id).where(DatasetRow.fingerprint == fingerprint))
            if found is not None:
                return found
            row = DatasetRow(
                fingerprint=fingerprint,
                source=source,
                layout=layout,
                num_classes=num_classes,
                num_images=num_images,
                counts=dict(counts),
                report=dict(report),
            )
            s.add(row)
            s.flush()
            return row.id

    def list_datasets(self) -> list[DatasetInfo]:
        with self.session() as s:
            rows = s.scalars(select(DatasetRow).order_by(DatasetRow.id)).all()
            return [DatasetInfo.model_validate(r) for r in rows]

    # runs -------------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        name: str,
        model: str,
        config: Mapping[str, Any],
        task: str = "classify",
        run_dir: str | Path | None = None,
        experiment_id: int | None = None,
        trial_number: int | None = None,
        params: Mapping[str, Any] | None = None,
        status: str = "queued",
    ) -> int:
        """Insert a run (``queued`` unless said otherwise) and return its id."""
        _check_state(status)
        with self.session() as s:
            row = RunRow(
                name=name,
                model=model,
                config=dict(config),
                task=task,
                run_dir=str(run_dir) if run_dir is not None else None,
                experiment_id=experiment_id,
                trial_number=trial_number,
                params=dict(params or {}),
                status=status,
                worker=worker_id(),
                heartbeat_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return row.id

    def start_run(
        self, run_id: int, *, run_dir: str | Path, name: str, dataset_id: int | None
    ) -> None:
        """The run's directory exists and training begins."""
        now = utcnow()
        self._update_run(
            run_id,
            status="running",
            run_dir=str(run_dir),
            name=name,
            dataset_id=dataset_id,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            error=None,
            worker=worker_id(),
        )

    def record_epoch(self, run_id: int, row: Mapping[str, float]) -> None:
        """Store one epoch's metrics (again, if a resumed run repeats it) and beat the heart."""
        epoch = int(row["epoch"])
        values = _numbers({k: v for k, v in row.items() if k != "epoch"})
        with self.session() as s:
            existing = s.scalar(
                select(EpochRow).where(EpochRow.run_id == run_id, EpochRow.epoch == epoch)
            )
            if existing is None:
                existing = EpochRow(run_id=run_id, epoch=epoch)
                s.add(existing)
            _set_named(existing.values, values, EpochValueRow)
            s.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(epochs_completed=epoch, heartbeat_at=utcnow())
            )

    def set_trial_number(self, run_id: int, trial_number: int) -> None:
        """A handed-back trial continues this run under its new Optuna trial number."""
        self._update_run(run_id, trial_number=trial_number)

    def heartbeat(self, run_id: int) -> None:
        with self.session() as s:
            s.execute(update(RunRow).where(RunRow.id == run_id).values(heartbeat_at=utcnow()))

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        error: str | None = None,
        summary: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, tuple[str, int | None]] | None = None,
    ) -> None:
        """Final state. ``summary`` holds run columns (``latency_ms``, ``primary_metric``, ...)
        and final metrics by name (``accuracy``, ``map``; or as a ``scores`` dict): one
        ``run_metrics`` row each. ``primary_value`` defaults to the primary metric's score."""
        _check_state(status)
        fields: dict[str, Any] = dict(summary or {})
        scores = _numbers(fields.pop("scores", None) or {})
        for key in [k for k in fields if k not in _RUN_COLUMNS]:
            value = fields.pop(key)
            if not _numbers({key: value}):
                raise StoreError(f"finish_run: '{key}' is neither a run column nor a number.")
            scores.update(_numbers({key: value}))
        primary = fields.get("primary_metric")
        if primary is not None and fields.get("primary_value") is None:
            fields["primary_value"] = scores.get(primary)
        with self.session() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"run {run_id} does not exist in {safe_url(self.url)}.")
            for key, value in fields.items():
                setattr(row, key, value)
            _set_named(row.scores, scores, RunMetricRow)
            row.status, row.error, row.finished_at = status, error, utcnow()
            for kind, (path, size) in (artifacts or {}).items():
                row.artifacts.append(ArtifactRow(kind=kind, path=path, size_bytes=size))

    def reap_stale_runs(self, *, grace_s: float) -> list[int]:
        """Mark runs whose worker stopped sending heartbeats as failed; returns their ids."""
        cutoff = utcnow() - timedelta(seconds=grace_s)
        with self.session() as s:
            stale = s.scalars(
                select(RunRow).where(RunRow.status.in_(ACTIVE_STATES), RunRow.heartbeat_at < cutoff)
            ).all()
            for row in stale:
                row.status = "failed"
                row.finished_at = utcnow()
                row.error = (
                    f"the worker {row.worker} stopped sending heartbeats (killed or crashed); "
                    f"last heartbeat {row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC. "
                    + (
                        f"Its last checkpoint is in {row.run_dir}/checkpoints; "
                        f"`imgrec train --resume {row.run_dir}` continues it."
                        if row.run_dir
                        else "It had not started training."
                    )
                )
            return [row.id for row in stale]

    def _update_run(self, run_id: int, **values: Any) -> None:
        with self.session() as s:
            result = s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            if result.rowcount == 0:  # type: ignore[attr-defined]  # CursorResult for UPDATE
                raise StoreError(f"run {run_id} does not exist in {safe_url(self.url)}.")

    def get_run(self, ref: int | str) -> RunInfo:
        """A run by id, name or run directory; StoreError lists nothing if it is unknown."""
        with self.session() as s:
            row = _find_run(s, ref)
            if row is None:
                raise NotFoundError(
                    f"no run '{ref}' in {safe_url(self.url)}: give a run id, name or run "
                    "directory (see `imgrec runs list`)."
                )
            return RunInfo.model_validate(row)

    def find_run_by_dir(self, run_dir: str | Path) -> RunInfo | None:
        with self.session() as s:
            row = s.scalars(
                select(RunRow).where(RunRow.run_dir == str(run_dir)).order_by(RunRow.id.desc())
            ).first()
            return RunInfo.model_validate(row) if row is not None else None

    def list_runs(
        self,
        *,
        experiment_id: int | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunInfo]:
        """Runs, newest first."""
        query = select(RunRow).order_by(RunRow.id.desc())
        if experiment_id is not None:
            query = query.where(RunRow.experiment_id == experiment_id)
        if status is not None:
            _check_state(status)
            query = query.where(RunRow.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return [RunInfo.model_validate(r) for r in s.scalars(query).all()]

    def epochs(self, run_id: int) -> list[EpochInfo]:
        with self.session() as s:
            rows = s.scalars(
                select(EpochRow).where(EpochRow.run_id == run_id).order_by(EpochRow.epoch)
            ).all()
            return [EpochInfo.model_validate(r) for r in rows]

    def delete_runs(self, run_ids: Sequence[int]) -> list[RunInfo]:
        """Delete runs with everything recorded under them (epochs and their values, final
        metrics, artifact rows), in one transaction; returns the runs as they were.

        An experiment whose best run goes forgets it (``best_run_id`` becomes NULL); Optuna's
        own trial rows stay. Files are not touched: the run directory is the caller's.

        Raises:
            NotFoundError: an id is unknown; nothing is deleted then.
        """
        ids = sorted({int(i) for i in run_ids})
        if not ids:
            return []
        with self.session() as s:
            rows = s.scalars(select(RunRow).where(RunRow.id.in_(ids)).order_by(RunRow.id)).all()
            missing = sorted(set(ids) - {r.id for r in rows})
            if missing:
                raise NotFoundError(
                    f"no run {', '.join(map(str, missing))} in {safe_url(self.url)}; nothing was "
                    "deleted (see `imgrec runs list`)."
                )
            gone = [RunInfo.model_validate(r) for r in rows]
            s.expunge_all()  # bulk deletes below; no ORM object may flush over them
            epochs = select(EpochRow.id).where(EpochRow.run_id.in_(ids))
            s.execute(delete(EpochValueRow).where(EpochValueRow.epoch_id.in_(epochs)))
            for child in (EpochRow, RunMetricRow, ArtifactRow):
                s.execute(delete(child).where(child.run_id.in_(ids)))
            s.execute(
                update(ExperimentRow)
                .where(ExperimentRow.best_run_id.in_(ids))
                .values(best_run_id=None)
            )
            s.execute(delete(RunRow).where(RunRow.id.in_(ids)))
            return gone

    def artifacts(self, run_id: int) -> list[ArtifactInfo]:
        with self.session() as s:
            rows = s.scalars(
                select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.id)
            ).all()
            return [ArtifactInfo.model_validate(r) for r in rows]


def _find_run(session: Session, ref: int | str) -> RunRow | None:
    text = str(ref).strip()
    if text.isdigit():
        return session.get(RunRow, int(text))
    for column in (RunRow.name, RunRow.run_dir):
        row = session.scalars(
            select(RunRow).where(column == text).order_by(RunRow.id.desc())
        ).first()
        if row is not None:
            return row
    resolved = str(Path(text).resolve())
    return session.scalars(
        select(RunRow).where(RunRow.run_dir == resolved).order_by(RunRow.id.desc())
    ).first()


_RUN_COLUMNS = frozenset(RunRow.__table__.columns.keys())
_Named = TypeVar("_Named", RunMetricRow, EpochValueRow)


def _numbers(values: Mapping[str, Any]) -> dict[str, float | None]:
    """The numbers of ``values`` (no bools, strings or nested dicts) as floats; NaN and
    infinity (a diverged loss) are kept as ``None``."""
    return {
        str(k): float(v) if math.isfinite(v) else None
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _set_named(rows: list[_Named], values: Mapping[str, float | None], kind: type[_Named]) -> None:
    """Update the named metric rows in place: a name seen again gets its new value."""
    by_name = {r.name: r for r in rows}
    for name, value in values.items():
        if name in by_name:
            by_name[name].value = value
        else:
            rows.append(kind(name=name, value=value))


def _check_state(status: str) -> None:
    if status not in RUN_STATES:
        raise StoreError(f"unknown run status '{status}'; one of: {', '.join(RUN_STATES)}.")
