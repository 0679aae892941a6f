"""metrics as rows: run_metrics and epoch_values by name, a primary metric per run

The fixed classification columns (``runs.accuracy/macro_f1/test_loss``, ``epoch_metrics.
train_loss/train_accuracy/val_loss/val_accuracy/lr/epoch_time_s``) become one row per metric
name, so a task stores whatever it declares (``val_map``, ``map50``, ...). Every existing value is
copied before a column is dropped; ``runs.primary_metric``/``primary_value`` (what run lists sort
by) are filled from ``accuracy``, the summary metric of classification, the only earlier task.
``downgrade`` copies the classification values back.

Columns are added and dropped in place (``ALTER TABLE ... DROP COLUMN``, SQLite 3.35+), never by
Alembic's batch copy-and-rename: on SQLite that drops ``runs`` and, with foreign keys on, its
``ON DELETE CASCADE`` would delete every epoch, artifact and metric row of every run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# old run column -> metric name (the key metrics.json uses)
_RUN_COLUMNS = {"accuracy": "accuracy", "macro_f1": "macro_f1", "test_loss": "loss"}
_EPOCH_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s")


def _check_sqlite() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35):
            raise RuntimeError(
                f"the run database needs SQLite 3.35 or newer to upgrade (this Python has "
                f"{sqlite3.sqlite_version}); use a newer Python or PostgreSQL (IMGREC_DB_URL)."
            )


def upgrade() -> None:
    op.create_table(
        "run_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_metrics_run_name", "run_metrics", ["run_id", "name"], unique=True)
    op.create_table(
        "epoch_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["epoch_id"], ["epoch_metrics.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epoch_values_epoch_name", "epoch_values", ["epoch_id", "name"], unique=True)
    _check_sqlite()
    op.add_column("runs", sa.Column("primary_metric", sa.String(length=64), nullable=True))
    op.add_column("runs", sa.Column("primary_value", sa.Float(), nullable=True))

    for column, name in _RUN_COLUMNS.items():
        op.execute(
            f"INSERT INTO run_metrics (run_id, name, value) SELECT id, '{name}', {column} "
            f"FROM runs WHERE {column} IS NOT NULL"
        )
    op.execute(
        "UPDATE runs SET primary_metric = 'accuracy', primary_value = accuracy "
        "WHERE accuracy IS NOT NULL"
    )
    for column in _EPOCH_COLUMNS:
        op.execute(
            f"INSERT INTO epoch_values (epoch_id, name, value) SELECT id, '{column}', {column} "
            f"FROM epoch_metrics WHERE {column} IS NOT NULL"
        )
    for column in _RUN_COLUMNS:
        op.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    for column in _EPOCH_COLUMNS:
        op.execute(f"ALTER TABLE epoch_metrics DROP COLUMN {column}")


def downgrade() -> None:
    _check_sqlite()
    for column in _RUN_COLUMNS:
        op.add_column("runs", sa.Column(column, sa.Float(), nullable=True))
    for column in _EPOCH_COLUMNS:
        op.add_column("epoch_metrics", sa.Column(column, sa.Float(), nullable=True))
    for column, name in _RUN_COLUMNS.items():
        op.execute(
            f"UPDATE runs SET {column} = (SELECT value FROM run_metrics m "
            f"WHERE m.run_id = runs.id AND m.name = '{name}')"
        )
    for column in _EPOCH_COLUMNS:
        op.execute(
            f"UPDATE epoch_metrics SET {column} = (SELECT value FROM epoch_values v "
            f"WHERE v.epoch_id = epoch_metrics.id AND v.name = '{column}')"
        )
    op.execute("ALTER TABLE runs DROP COLUMN primary_value")
    op.execute("ALTER TABLE runs DROP COLUMN primary_metric")
    op.drop_index("ix_epoch_values_epoch_name", table_name="epoch_values")
    op.drop_table("epoch_values")
    op.drop_index("ix_run_metrics_run_name", table_name="run_metrics")
    op.drop_table("run_metrics")
