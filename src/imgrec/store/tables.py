"""The run database's tables (SQLAlchemy 2, typed). Changing them needs an Alembic migration.

Times are naive UTC (``utcnow()``) so SQLite and PostgreSQL store and return the same values.
Optuna keeps its own tables (``studies``, ``trials``, ...) in the same database; an experiment
row names its study and a run row names its trial.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "RUN_STATES",
    "ArtifactRow",
    "Base",
    "DatasetRow",
    "EpochRow",
    "EpochValueRow",
    "ExperimentRow",
    "RunMetricRow",
    "RunRow",
    "utcnow",
]

# queued -> running -> completed | failed | pruned | interrupted | cancelled
RUN_STATES = ("queued", "running", "completed", "failed", "pruned", "interrupted", "cancelled")
ACTIVE_STATES = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class DatasetRow(Base):
    """A dataset as imgrec read it, identified by the fingerprint of its samples and splits."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    layout: Mapped[str] = mapped_column(String(64))
    num_classes: Mapped[int] = mapped_column(Integer)
    num_images: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ExperimentRow(Base):
    """A hyperparameter search: one Optuna study plus imgrec's bookkeeping for it."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # the Optuna study name
    task: Mapped[str] = mapped_column(String(32), default="classify")
    data_path: Mapped[str] = mapped_column(Text)
    space: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    objectives: Mapped[list[Any]] = mapped_column(default=list)  # [[metric, direction], ...]
    sampler: Mapped[str] = mapped_column(String(32))
    pruner: Mapped[str] = mapped_column(String(32))
    n_trials: Mapped[int] = mapped_column(Integer)
    trials_claimed: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    out_dir: Mapped[str] = mapped_column(Text)
    best_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    runs: Mapped[list[RunRow]] = relationship(back_populates="experiment")


class RunRow(Base):
    """One training run: its config, state, timings, final metrics and where its files are."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_runs_experiment", "experiment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    run_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=True
    )
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    task: Mapped[str] = mapped_column(String(32), default="classify")
    model: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the searched values
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    epochs_completed: Mapped[int] = mapped_column(Integer, default=0)
    best_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_val: Mapped[float | None] = mapped_column(Float, nullable=True)
    train_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The task's summary metric (``accuracy``, ``map``) and its value: what run lists sort by.
    primary_metric: Mapped[str | None] = mapped_column(String(64), nullable=True)
    primary_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    throughput: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)

    experiment: Mapped[ExperimentRow | None] = relationship(back_populates="runs")
    epochs: Mapped[list[EpochRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="EpochRow.epoch"
    )
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan"
    )
    scores: Mapped[list[RunMetricRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", lazy="selectin"
    )


class RunMetricRow(Base):
    """One final metric of a run, by name (``accuracy``, ``macro_f1``, ``map``, ``map50``, ...)."""

    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_name", "run_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # NULL: NaN or inf

    run: Mapped[RunRow] = relationship(back_populates="scores")


class EpochRow(Base):
    """One finished epoch of one run; its metrics are :class:`EpochValueRow` rows by name.

    The increasing ``id`` is the live feed's cursor.
    """

    __tablename__ = "epoch_metrics"
    __table_args__ = (Index("ix_epoch_metrics_run_epoch", "run_id", "epoch", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    run: Mapped[RunRow] = relationship(back_populates="epochs")
    values: Mapped[list[EpochValueRow]] = relationship(
        back_populates="epoch_row", cascade="all, delete-orphan", lazy="selectin"
    )


class EpochValueRow(Base):
    """One metric of one epoch by name (``train_loss``, ``val_accuracy``, ``val_map``, ``lr``)."""

    __tablename__ = "epoch_values"
    __table_args__ = (Index("ix_epoch_values_epoch_name", "epoch_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epoch_metrics.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # NULL: NaN or inf

    epoch_row: Mapped[EpochRow] = relationship(back_populates="values")


class ArtifactRow(Base):
    """A file a run wrote (model, card, plots, reports), by path relative to its run directory."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)

    run: Mapped[RunRow] = relationship(back_populates="artifacts")
