"""Experiment rows: create, claim a trial slot atomically, finish. Mixed into :class:`Store`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from imgrec.errors import NotFoundError, StoreError
from imgrec.store.schemas import ExperimentInfo
from imgrec.store.tables import ExperimentRow, RunRow, utcnow

__all__ = ["EXPERIMENT_STATES", "ExperimentQueries"]

EXPERIMENT_STATES = ("open", "completed", "cancelled")


class ExperimentQueries:
    """The experiment half of :class:`imgrec.store.Store`."""

    url: str

    def session(self) -> AbstractContextManager[Session]:  # provided by Store
        raise NotImplementedError

    def create_experiment(
        self,
        *,
        name: str,
        data_path: str,
        space: Mapping[str, Any],
        base_config: Mapping[str, Any],
        objectives: Sequence[tuple[str, str]],
        sampler: str,
        pruner: str,
        n_trials: int,
        out_dir: str,
        timeout_s: float | None = None,
        task: str = "classify",
    ) -> ExperimentInfo:
        with self.session() as s:
            if s.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name)) is not None:
                raise StoreError(
                    f"an experiment named '{name}' already exists; pick another --name, or "
                    f"`imgrec worker --experiment {name}` to continue it."
                )
            row = ExperimentRow(
                name=name,
                task=task,
                data_path=data_path,
                space=dict(space),
                base_config=dict(base_config),
                objectives=[list(o) for o in objectives],
                sampler=sampler,
                pruner=pruner,
                n_trials=n_trials,
                out_dir=out_dir,
                deadline=utcnow() + timedelta(seconds=timeout_s) if timeout_s else None,
                summary={},
            )
            s.add(row)
            s.flush()
            return ExperimentInfo.model_validate(row)

    def get_experiment(self, ref: int | str) -> ExperimentInfo:
        with self.session() as s:
            text = str(ref)
            row = (
                s.get(ExperimentRow, int(text))
                if text.isdigit()
                else s.scalar(select(ExperimentRow).where(ExperimentRow.name == text))
            )
            if row is None:
                raise NotFoundError(
                    f"no experiment '{ref}' in the run database; `imgrec runs experiments` "
                    "lists them."
                )
            return ExperimentInfo.model_validate(row)

    def list_experiments(self) -> list[ExperimentInfo]:
        with self.session() as s:
            rows = s.scalars(select(ExperimentRow).order_by(ExperimentRow.id.desc())).all()
            return [ExperimentInfo.model_validate(r) for r in rows]

    def claim_trial(self, *, experiment: str | None = None) -> ExperimentInfo | None:
        """Reserve one trial of an open experiment for this worker, or None if none is left.

        The reservation is one conditional UPDATE, so concurrent workers never take more
        trials than the experiment asked for.
        """
        now = utcnow()
        open_rows = (
            select(ExperimentRow.id)
            .where(
                ExperimentRow.status == "open",
                ExperimentRow.trials_claimed < ExperimentRow.n_trials,
                or_(ExperimentRow.deadline.is_(None), ExperimentRow.deadline > now),
            )
            .order_by(ExperimentRow.id)
        )
        if experiment is not None:
            open_rows = open_rows.where(ExperimentRow.name == experiment)
        with self.session() as s:
            candidates = list(s.scalars(open_rows).all())
        for experiment_id in candidates:
            with self.session() as s:
                claimed = s.execute(
                    update(ExperimentRow)
                    .where(
                        ExperimentRow.id == experiment_id,
                        ExperimentRow.status == "open",
                        ExperimentRow.trials_claimed < ExperimentRow.n_trials,
                    )
                    .values(trials_claimed=ExperimentRow.trials_claimed + 1)
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult
                    row = s.get(ExperimentRow, experiment_id)
                    assert row is not None
                    s.refresh(row)
                    return ExperimentInfo.model_validate(row)
        return None

    def release_trial(self, experiment_id: int) -> None:
        """Give a reserved trial back (its worker died and Optuna re-queues it)."""
        with self.session() as s:
            s.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == experiment_id, ExperimentRow.trials_claimed > 0)
                .values(trials_claimed=ExperimentRow.trials_claimed - 1)
            )

    def set_experiment_status(self, experiment_id: int, status: str) -> None:
        if status not in EXPERIMENT_STATES:
            raise StoreError(f"unknown experiment status '{status}'.")
        with self.session() as s:
            values: dict[str, Any] = {"status": status}
            if status != "open":
                values["finished_at"] = utcnow()
            s.execute(
                update(ExperimentRow).where(ExperimentRow.id == experiment_id).values(**values)
            )

    def finish_experiment(
        self,
        experiment_id: int,
        *,
        best_run_id: int | None,
        summary: Mapping[str, Any],
        status: str = "completed",
    ) -> None:
        with self.session() as s:
            row = s.get(ExperimentRow, experiment_id)
            if row is None:
                raise StoreError(f"experiment {experiment_id} does not exist.")
            row.best_run_id, row.summary = best_run_id, dict(summary)
            if row.status == "open":
                row.status = status
            row.finished_at = utcnow()

    def run_counts(self, experiment_id: int) -> dict[str, int]:
        """How many of the experiment's runs are in each state."""
        with self.session() as s:
            rows = s.execute(
                select(RunRow.status, func.count())
                .where(RunRow.experiment_id == experiment_id)
                .group_by(RunRow.status)
            ).all()
            return {str(status): int(count) for status, count in rows}
