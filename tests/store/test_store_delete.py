"""Store.delete_runs on SQLite and PostgreSQL: the run and every row under it go, nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from imgrec.errors import NotFoundError
from imgrec.store import Store
from imgrec.store.tables import (
    ArtifactRow,
    EpochRow,
    EpochValueRow,
    ExperimentRow,
    RunMetricRow,
    RunRow,
)


@pytest.fixture
def store(db_url: str) -> Store:
    opened = Store(db_url)
    yield opened
    opened.close()


def _finished_run(store: Store, name: str, *, experiment_id: int | None = None) -> int:
    run_id = store.create_run(
        name=name, model="simple_cnn", config={}, experiment_id=experiment_id, trial_number=0
    )
    store.start_run(run_id, run_dir=f"/runs/{name}", name=name, dataset_id=None)
    for epoch in (1, 2):
        store.record_epoch(run_id, {"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0})
    store.finish_run(
        run_id,
        status="completed",
        summary={"accuracy": 0.5, "macro_f1": 0.4},
        artifacts={"model": ("model.safetensors", 10), "card": ("card.json", 2)},
    )
    return run_id


def _counts(store: Store) -> dict[str, int]:
    tables = (RunRow, EpochRow, EpochValueRow, RunMetricRow, ArtifactRow)
    with store.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in tables}


def test_deleting_runs_removes_their_rows_in_every_child_table(store: Store) -> None:
    exp = store.create_experiment(
        name="exp",
        data_path="/d",
        space={},
        base_config={},
        objectives=[["val_accuracy", "maximize"]],
        sampler="tpe",
        pruner="none",
        n_trials=2,
        out_dir="/e",
    )
    gone, kept = _finished_run(store, "gone", experiment_id=exp.id), _finished_run(store, "kept")
    with store.session() as s:
        s.get(ExperimentRow, exp.id).best_run_id = gone
    one_run = {"runs": 1, "epoch_metrics": 2, "epoch_values": 4, "run_metrics": 2, "artifacts": 2}
    assert _counts(store) == {k: 2 * v for k, v in one_run.items()}
    deleted = store.delete_runs([gone])
    assert [(r.id, r.name, r.run_dir) for r in deleted] == [(gone, "gone", "/runs/gone")]
    assert _counts(store) == one_run  # the other run keeps everything
    assert [e.epoch for e in store.epochs(kept)] == [1, 2]
    assert store.get_run(kept).scores == {"accuracy": 0.5, "macro_f1": 0.4}
    assert store.get_experiment("exp").best_run_id is None
    with pytest.raises(NotFoundError):
        store.get_run(gone)
    assert store.delete_runs([]) == []


def test_an_unknown_id_deletes_nothing(store: Store) -> None:
    run_id = _finished_run(store, "r")
    with pytest.raises(NotFoundError, match="no run 999"):
        store.delete_runs([run_id, 999])
    assert store.get_run(run_id).status == "completed"
    assert len(store.epochs(run_id)) == 2
