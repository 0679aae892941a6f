"""``imgrec tune`` end to end on tiny synthetic data: trials are runs, pruning prunes, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import imgrec
from imgrec.api import open_store
from imgrec.cli import app

TINY: dict[str, Any] = {"img_size": 16, "model.options.width": 8, "show_progress": False}


@pytest.mark.slow
def test_a_search_records_every_trial_and_hands_back_the_best_model(
    shapes_dir: Path, tmp_path: Path
) -> None:
    space = {"lr": {"low": 1e-3, "high": 2e-2, "log": True}, "batch_size": [16, 32], "epochs": 2}
    result = imgrec.tune(
        shapes_dir,
        space=space,
        trials=3,
        sampler="random",
        pruner="none",
        name="shapes-search",
        out=tmp_path,
        **TINY,
    )
    assert result.status == "completed" and result.summary["counts"] == {"complete": 3}
    store = open_store()
    exp = store.get_experiment("shapes-search")
    runs = store.list_runs(experiment_id=exp.id)
    assert sorted(r.trial_number for r in runs) == [0, 1, 2]
    assert all(r.status == "completed" and set(r.params) == {"lr", "batch_size"} for r in runs)
    assert all(
        r.config["train"]["epochs"] == 2 and r.config["data"]["img_size"] == 16 for r in runs
    )
    best = max(runs, key=lambda r: r.best_val or 0)
    assert result.best_value == pytest.approx(best.best_val)
    assert exp.best_run_id == result.summary["best_run_id"]
    assert result.best_run_dir is not None and result.best_run_dir.is_dir()
    for plot in ("optimization_history", "parallel_coordinate", "intermediate_values"):
        assert (result.out_dir / f"{plot}.png").stat().st_size > 5000
    assert (result.out_dir / "experiment.json").is_file()
    assert len((result.out_dir / "trials.csv").read_text().splitlines()) == 4
    assert result.model_dir is not None
    predictions = imgrec.predict(result.model_dir, [next(shapes_dir.rglob("*.png"))], top_k=1)
    assert predictions[0].top_k[0][0] in {"circle", "square", "triangle", "cross"}


@pytest.mark.slow
def test_pruning_stops_hopeless_trials_early(shapes_dir: Path, tmp_path: Path) -> None:
    # lr 1.0 makes the loss explode at once; the median pruner must cut those trials short.
    space = {"lr": [1e-3, 1.0], "epochs": 4, "batch_size": 16}
    result = imgrec.tune(
        shapes_dir,
        space=space,
        trials=9,
        sampler="random",
        pruner="median",
        metrics=["val_loss"],
        name="prune",
        out=tmp_path,
        **TINY,
    )
    runs = open_store().list_runs(experiment_id=open_store().get_experiment("prune").id)
    pruned = [r for r in runs if r.status == "pruned"]
    assert pruned, [(r.params, r.status, r.best_val) for r in runs]
    assert all(r.epochs_completed < 4 and r.params["lr"] == 1.0 for r in pruned)
    assert result.summary["counts"]["pruned"] == len(pruned)
    assert result.summary["best_params"]["lr"] == 1e-3


@pytest.mark.slow
def test_two_objectives_give_a_pareto_front(shapes_dir: Path, tmp_path: Path) -> None:
    result = imgrec.tune(
        shapes_dir,
        space={"epochs": 1, "lr": [1e-3, 1e-2]},
        trials=2,
        metrics=["val_accuracy", "latency_ms"],
        name="pareto",
        out=tmp_path,
        **TINY,
    )
    assert any("pruning" in note for note in result.notes)
    assert result.summary["pareto_front"] and (result.out_dir / "pareto_front.png").is_file()
    assert len(result.summary["best_value"]) == 2


@pytest.mark.slow
def test_the_command_line_runs_a_search_with_two_local_workers(
    shapes_dir: Path, tmp_path: Path
) -> None:
    args = ["tune", str(shapes_dir), "--trials", "4", "--workers", "2", "--name", "two"]
    args += ["--out", str(tmp_path), "--set", "epochs=1", "--set", "img_size=16"]
    args += ["--set", "model.options.width=8", "--sampler", "random"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "search two: 4/4 trials" in result.output and "best trial" in result.output
    store = open_store()
    runs = store.list_runs(experiment_id=store.get_experiment("two").id)
    assert sorted(r.trial_number for r in runs) == [0, 1, 2, 3]
    assert all(r.status == "completed" for r in runs)
    listing = CliRunner().invoke(app, ["runs", "experiments", "--format", "json"])
    assert '"trials": "4/4"' in listing.output
