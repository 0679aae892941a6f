"""Migration 0002: a database written by the 0001 schema keeps every run and epoch value."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from imgrec.store import Store
from imgrec.store.database import MIGRATIONS_DIR


def _alembic(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _old_database(url: str) -> None:
    """The schema at revision 0001 with one finished classification run of two epochs."""
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO runs (id, name, task, model, config, params, status, created_at, "
                "epochs_completed, accuracy, macro_f1, test_loss, latency_ms, metrics) VALUES "
                "(1, 'old', 'classify', 'simple_cnn', '{}', '{}', 'completed', "
                "'2026-11-30 10:00:00', 2, 0.875, 0.5, 0.25, 1.5, '{}'),"
                "(2, 'unfinished', 'classify', 'simple_cnn', '{}', '{}', 'failed', "
                "'2026-11-30 11:00:00', 0, NULL, NULL, NULL, NULL, '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO epoch_metrics (id, run_id, epoch, train_loss, train_accuracy, "
                "val_loss, val_accuracy, lr, epoch_time_s, recorded_at) VALUES "
                "(1, 1, 1, 1.0, 0.5, 0.9, 0.6, 0.01, 3.0, '2026-11-30 10:01:00'),"
                "(2, 1, 2, 0.5, NULL, 0.7, 0.8, 0.005, 2.5, '2026-11-30 10:02:00')"
            )
        )
        if conn.dialect.name == "postgresql":  # explicit ids do not move the sequences on
            for table, last in (("runs", 2), ("epoch_metrics", 2)):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
                )
    engine.dispose()


def test_upgrading_keeps_every_value_as_named_rows(db_url: str) -> None:
    url = db_url
    _old_database(url)
    store = Store(url)  # migrates to the newest revision
    try:
        old = store.get_run(1)
        assert old.scores == {"accuracy": 0.875, "macro_f1": 0.5, "loss": 0.25}
        assert (old.primary_metric, old.primary_value) == ("accuracy", 0.875)
        assert old.accuracy == 0.875 and old.latency_ms == 1.5
        assert store.get_run(2).scores == {} and store.get_run(2).primary_value is None
        first, second = store.epochs(1)
        assert first.values == {
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "val_loss": 0.9,
            "val_accuracy": 0.6,
            "lr": 0.01,
            "epoch_time_s": 3.0,
        }
        assert second.value("train_accuracy") is None and second.value("val_accuracy") == 0.8
        # an old run still sorts by its accuracy next to a new one
        new = store.create_run(name="new", model="m", config={})
        store.finish_run(new, status="completed", summary={"primary_metric": "accuracy",
                                                           "accuracy": 0.9})  # fmt: skip
        _, runs = store.search_runs(sort="-accuracy")
        assert [r.name for r in runs] == ["new", "old", "unfinished"]
        _, runs = store.search_runs(sort="-primary_value")
        assert [r.name for r in runs][:2] == ["new", "old"]
    finally:
        store.close()


def test_downgrading_restores_the_fixed_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    _old_database(url)
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_alembic(conn), "0001")
        run = conn.execute(text("SELECT accuracy, macro_f1, test_loss FROM runs WHERE id = 1"))
        assert run.one() == (0.875, 0.5, 0.25)
        epoch = conn.execute(text("SELECT val_accuracy, train_accuracy FROM epoch_metrics"))
        assert epoch.all() == [(0.6, 0.5), (0.8, None)]
    engine.dispose()
