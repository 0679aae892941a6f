"""Workers share experiments through the database: a killed worker's trial is retried, two
workers never run the same trial."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import imgrec
from imgrec import api
from imgrec.search.study import optuna_storage
from imgrec.store import Store
from tests.services import kill_once_training

TINY = {"img_size": 16, "model.options.width": 8, "batch_size": 8, "show_progress": False}


def _worker(url: str, name: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "imgrec", "worker", "--db", url, "--experiment", name]
    return subprocess.Popen(command, env=os.environ.copy())


@pytest.mark.slow
def test_a_worker_killed_mid_trial_has_its_trial_resumed_by_another(
    db_url: str, shapes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGREC_HEARTBEAT_S", "1")
    monkeypatch.setenv("IMGREC_HEARTBEAT_GRACE_S", "3")
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "epochs": 8}
    exp = imgrec.tune(
        shapes_dir,
        space=space,
        trials=2,
        workers=0,
        pruner="none",
        name="kill",
        out=tmp_path,
        db=db_url,
        **TINY,
    )
    store = Store(db_url)
    victim = _worker(db_url, exp.experiment)
    killed_run = kill_once_training(victim, store, checkpointed=True)
    time.sleep(3.5)  # the grace period passes without heartbeats

    ran = api.worker(db=db_url, experiment=exp.experiment, until_done=True)

    assert ran >= 1  # the retried trial (and the second one, unless the victim had done it)
    storage = optuna_storage(db_url, heartbeat_s=1, grace_s=3)
    study = optuna.load_study(study_name="kill", storage=storage)
    trials = study.get_trials()
    states = sorted(t.state.name for t in trials)
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    retried = [
        t
        for t in trials
        if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == failed.number
    ]
    assert len(retried) == 1 and retried[0].params == failed.params
    # the dead worker's run was failed by the heartbeat, then continued from its checkpoint
    resumed = store.get_run(killed_run.id)
    assert resumed.status == "completed" and resumed.trial_number == retried[0].number
    assert [e.epoch for e in store.epochs(resumed.id)] == list(range(1, 9))
    runs = store.list_runs(experiment_id=store.get_experiment("kill").id)
    assert sorted(r.status for r in runs) == ["completed", "completed"]
    assert store.get_experiment("kill").status == "completed"


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_on_postgresql_share_a_study_without_running_a_trial_twice(
    postgres_url: str, shapes_dir: Path, tmp_path: Path
) -> None:
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "epochs": 2}
    exp = imgrec.tune(
        shapes_dir,
        space=space,
        trials=4,
        workers=0,
        pruner="none",
        name="pair",
        out=tmp_path,
        db=postgres_url,
        **TINY,
    )
    workers = [_worker(postgres_url, exp.experiment) for _ in range(2)]
    for w in workers:
        assert w.wait(timeout=400) == 0
    store = Store(postgres_url)
    runs = store.list_runs(experiment_id=store.get_experiment("pair").id)
    assert sorted(r.trial_number for r in runs) == [0, 1, 2, 3]
    assert all(r.status == "completed" for r in runs)
    assert len({r.run_dir for r in runs}) == 4
    assert store.get_experiment("pair").trials_claimed == 4
    assert store.get_experiment("pair").status == "completed"
