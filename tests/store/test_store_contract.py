"""The store's contract: every test runs against SQLite and a throwaway PostgreSQL database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update

from imgrec.errors import StoreError
from imgrec.store import Store
from imgrec.store.tables import RunRow, utcnow


@pytest.fixture
def store(db_url: str) -> Store:
    opened = Store(db_url)
    yield opened
    opened.close()


def _run(store: Store, **kwargs: object) -> int:
    return store.create_run(name="r", model="simple_cnn", config={"train": {"lr": 0.1}}, **kwargs)


def test_migrations_build_the_schema_from_an_empty_database(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from imgrec.store.tables import Base

    store = Store(db_url)
    tables = set(sa_inspect(store.engine).get_table_names())
    assert {"datasets", "experiments", "runs", "epoch_metrics", "artifacts"} <= tables
    assert "imgrec_alembic_version" in tables
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "imgrec_alembic_version"})
        assert context.get_current_revision() == "0002"
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if d[0] != "remove_table"] == []
    Store(db_url).close()  # opening again is a no-op, not an error
    store.close()


def test_a_run_goes_from_queued_to_completed_with_epochs_and_artifacts(store: Store) -> None:
    run_id = _run(store)
    assert store.get_run(run_id).status == "queued"
    dataset = store.upsert_dataset(
        fingerprint="abc",
        source="/data",
        layout="class_folders",
        num_classes=2,
        num_images=10,
        counts={"train": {"a": 5}},
        report={},
    )
    assert dataset == store.upsert_dataset(
        fingerprint="abc", source="x", layout="y", num_classes=1, num_images=1, counts={}, report={}
    )
    store.start_run(run_id, run_dir="/runs/r1", name="r1", dataset_id=dataset)
    store.record_epoch(run_id, {"epoch": 1, "val_accuracy": 0.5, "lr": 0.1})
    store.record_epoch(run_id, {"epoch": 2, "val_accuracy": 0.7, "train_loss": 0.3})
    store.record_epoch(run_id, {"epoch": 2, "val_accuracy": 0.8})  # a resumed run repeats it
    store.finish_run(
        run_id,
        status="completed",
        summary={"accuracy": 0.75, "latency_ms": 1.5},
        artifacts={"model": ("model.safetensors", 1234)},
    )
    run = store.get_run("r1")
    assert (run.status, run.accuracy, run.latency_ms, run.epochs_completed) == (
        "completed",
        0.75,
        1.5,
        2,
    )
    assert run.run_dir == "/runs/r1" and run.dataset_id == dataset
    assert [(e.epoch, e.val_accuracy) for e in store.epochs(run_id)] == [(1, 0.5), (2, 0.8)]
    assert store.epochs(run_id)[1].train_loss == pytest.approx(0.3)
    assert [(a.kind, a.size_bytes) for a in store.artifacts(run_id)] == [("model", 1234)]
    assert store.get_run("/runs/r1").id == run_id
    assert store.list_datasets()[0].fingerprint == "abc"


def test_lookups_filters_and_bad_values_give_clear_errors(store: Store) -> None:
    first, second = _run(store), _run(store)
    store.finish_run(first, status="failed", error="RuntimeError: boom")
    assert [r.id for r in store.list_runs()] == [second, first]
    assert [r.id for r in store.list_runs(status="failed")] == [first]
    assert store.get_run(first).error == "RuntimeError: boom"
    with pytest.raises(StoreError, match=r"no run 'nope'.*imgrec runs list"):
        store.get_run("nope")
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        store.list_runs(status="done")
    with pytest.raises(StoreError, match="run 999 does not exist"):
        store.start_run(999, run_dir="/x", name="x", dataset_id=None)


def test_runs_of_dead_workers_are_reaped_never_left_running(store: Store) -> None:
    alive, dead = _run(store), _run(store)
    store.start_run(dead, run_dir="/runs/dead", name="dead", dataset_id=None)
    store.start_run(alive, run_dir="/runs/alive", name="alive", dataset_id=None)
    with store.session() as s:
        old = utcnow() - timedelta(minutes=10)
        s.execute(update(RunRow).where(RunRow.id == dead).values(heartbeat_at=old))
    assert store.reap_stale_runs(grace_s=60) == [dead]
    reaped = store.get_run(dead)
    assert reaped.status == "failed"
    assert "stopped sending heartbeats" in (reaped.error or "")
    assert "--resume /runs/dead" in (reaped.error or "")
    assert store.get_run(alive).status == "running"


def _experiment(store: Store, name: str = "e", n_trials: int = 3, **kwargs: object):
    return store.create_experiment(
        name=name,
        data_path="/data",
        space={},
        base_config={},
        objectives=[("val_accuracy", "maximize")],
        sampler="tpe",
        pruner="median",
        n_trials=n_trials,
        out_dir="/exp",
        **kwargs,
    )


def test_trial_slots_are_claimed_up_to_the_limit_and_given_back(store: Store) -> None:
    exp = _experiment(store, n_trials=2)
    with pytest.raises(StoreError, match="already exists"):
        _experiment(store, n_trials=2)
    assert store.claim_trial(experiment="e") is not None
    assert store.claim_trial() is not None
    assert store.claim_trial() is None
    store.release_trial(exp.id)
    assert store.claim_trial().trials_claimed == 2
    _experiment(store, name="late", timeout_s=1)
    with store.session() as s:
        from imgrec.store.tables import ExperimentRow

        s.execute(
            update(ExperimentRow)
            .where(ExperimentRow.name == "late")
            .values(deadline=utcnow() - timedelta(seconds=1))
        )
    assert store.claim_trial(experiment="late") is None  # past its time budget
    other = _experiment(store, name="stopped")
    store.set_experiment_status(other.id, "cancelled")
    assert store.claim_trial(experiment="stopped") is None
    with pytest.raises(StoreError, match="no experiment 'missing'"):
        store.get_experiment("missing")


def test_concurrent_claims_never_exceed_the_trial_count(store: Store) -> None:
    _experiment(store, n_trials=5)
    wins: list[bool] = []

    def claim() -> None:
        for _ in range(3):
            wins.append(store.claim_trial(experiment="e") is not None)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(wins) == 5
    assert store.get_experiment("e").trials_claimed == 5


def test_readers_see_consistent_data_while_a_worker_writes(db_url: str) -> None:
    writer_store, reader_store = Store(db_url), Store(db_url)
    run_id = _run(writer_store)
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for epoch in range(1, 151):
                writer_store.record_epoch(run_id, {"epoch": epoch, "val_accuracy": epoch / 150})
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            seen = 0
            while not done.is_set():
                epochs = reader_store.epochs(run_id)
                assert len(epochs) >= seen  # never goes backwards
                assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1))
                seen = len(epochs)
                reader_store.list_runs()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(reader_store.epochs(run_id)) == 150
    assert reader_store.get_run(run_id).epochs_completed == 150
    writer_store.close()
    reader_store.close()
