"""Objectives, samplers, pruners, durations and the search ETA."""

from __future__ import annotations

import optuna
import pytest

from imgrec.cli.tune import parse_duration
from imgrec.errors import ConfigError
from imgrec.search.progress import search_eta
from imgrec.search.study import (
    SAMPLERS,
    make_pruner,
    make_sampler,
    objective_value,
    resolve_objectives,
)
from imgrec.search.trial import TrialPrunedError, TrialRecorder
from imgrec.store import ExperimentInfo, Store


def test_objectives_take_natural_directions_and_refuse_nonsense() -> None:
    assert resolve_objectives(["val_accuracy", "latency_ms"]) == [
        ("val_accuracy", "maximize"),
        ("latency_ms", "minimize"),
    ]
    with pytest.raises(ConfigError, match="unknown objective metric 'acc'"):
        resolve_objectives(["acc"])
    with pytest.raises(ConfigError, match="one per metric"):
        resolve_objectives(["val_accuracy"], ["maximize", "minimize"])
    with pytest.raises(ConfigError, match="maximize or minimize"):
        resolve_objectives(["val_loss"], ["down"])


def test_objective_values_come_from_the_best_epoch_or_the_final_metrics() -> None:
    history = [{"val_accuracy": 0.5, "val_loss": 1.0}, {"val_accuracy": 0.7, "val_loss": 1.2}]
    metrics = {"accuracy": 0.6, "inference": {"latency_batch1": {"p50_ms": 2.5}}}
    assert objective_value("val_accuracy", metrics, history) == 0.7
    assert objective_value("val_loss", metrics, history) == 1.0
    assert objective_value("latency_ms", metrics, history) == 2.5
    assert objective_value("accuracy", metrics, history) == 0.6
    with pytest.raises(ConfigError, match="needs a validation split"):
        objective_value("val_accuracy", metrics, [{"val_accuracy": None}])


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_can_be_built(name: str) -> None:
    assert isinstance(
        make_sampler(name, seed=0, multi_objective=False), optuna.samplers.BaseSampler
    )


def test_single_objective_samplers_refuse_two_objectives_and_unknowns_are_named() -> None:
    with pytest.raises(ConfigError, match="handles one objective only"):
        make_sampler("cmaes", seed=0, multi_objective=True)
    with pytest.raises(ConfigError, match="unknown sampler 'bayes'"):
        make_sampler("bayes", seed=0, multi_objective=False)
    with pytest.raises(ConfigError, match="unknown pruner 'early'"):
        make_pruner("early", max_epochs=5)


def test_durations_and_search_eta() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    assert search_eta(remaining=6, mean_trial_s=10, parallel=2) == 30
    assert search_eta(remaining=6, mean_trial_s=10, parallel=1, deadline_in_s=20) == 20
    assert search_eta(remaining=3, mean_trial_s=None, parallel=1) is None


def _experiment(store: Store, name: str, out: object) -> ExperimentInfo:
    return store.create_experiment(
        name=name,
        data_path="/d",
        space={},
        base_config={},
        objectives=[("val_accuracy", "maximize")],
        sampler="tpe",
        pruner="median",
        n_trials=4,
        out_dir=str(out),
    )


def test_a_hopeless_trial_is_pruned_after_its_epoch(tmp_path) -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=3)
    )
    for _ in range(3):
        good = study.ask()
        for epoch in (1, 2):
            good.report(0.9, step=epoch)
        study.tell(good, 0.9)
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    exp = _experiment(store, "e", tmp_path)
    run_id = store.create_run(name="t", model="m", config={}, experiment_id=exp.id)
    trial = study.ask()
    recorder = TrialRecorder(
        store,
        run_id,
        trial=trial,
        experiment_id=exp.id,
        prune_metric="val_accuracy",
        heartbeat_s=60,
    )
    with pytest.raises(TrialPrunedError, match=r"pruned after epoch 1: val_accuracy 0\.2000"):
        recorder.epoch({"epoch": 1.0, "val_accuracy": 0.2})
    assert store.epochs(run_id)[0].val_accuracy == pytest.approx(0.2)  # recorded first
    recorder.finished(status="pruned", metrics=None, error=None, run_dir=None)


def test_cancelling_an_experiment_stops_its_running_trials_after_the_epoch(tmp_path) -> None:
    from imgrec import api
    from imgrec.search.trial import ExperimentCancelledError

    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = Store(url)
    exp = _experiment(store, "c", tmp_path)
    run_id = store.create_run(name="t", model="m", config={}, experiment_id=exp.id)
    trial = optuna.create_study().ask()
    recorder = TrialRecorder(
        store, run_id, trial=trial, experiment_id=exp.id, prune_metric=None, heartbeat_s=60
    )
    recorder.epoch({"epoch": 1.0, "val_loss": 1.0})
    api.cancel_experiment("c", db=url)
    with pytest.raises(ExperimentCancelledError):
        recorder.epoch({"epoch": 2.0, "val_loss": 0.9})
    assert store.claim_trial(experiment="c") is None
    recorder.finished(status="cancelled", metrics=None, error=None, run_dir=None)
