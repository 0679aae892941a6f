"""The end of a search: best trial and model, trial table, importances, plots (PNG + JSON).

Written to the experiment directory::

    experiment.json            summary, best trial, every trial, parameter importances
    trials.csv                 one row per trial (state, values, parameters, epochs, run)
    model/                     the best trial's card.json + model.safetensors (+ metrics.json)
    optimization_history.png   objective value per trial with the best so far
    param_importances.png      fANOVA importances (needs two or more finished trials)
    parallel_coordinate.png    parameters against the objective
    intermediate_values.png    per-epoch validation curves, pruned trials cut short
    pareto_front.png           two objectives: the trade-off front
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from imgrec.evaluation.writers import write_json
from imgrec.store import ExperimentInfo
from imgrec.store.reports import rows_to_csv

__all__ = ["trial_rows", "write_experiment_report"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial as a plain row."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = t.duration.total_seconds() if t.duration is not None else None
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "values": t.values,
                "params": dict(t.params),
                "epochs": len(t.intermediate_values) or None,
                "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                "duration_s": round(duration, 3) if duration is not None else None,
                "run_id": t.user_attrs.get("run_id"),
                "run_dir": t.user_attrs.get("run_dir"),
                "retry_of": optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(
                    t
                ),
            }
        )
    return rows


def _best(study: optuna.Study, exp: ExperimentInfo) -> tuple[list[optuna.trial.FrozenTrial], Any]:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return [], None
    if len(exp.objectives) == 1:
        return [study.best_trial], study.best_value
    front = sorted(
        study.best_trials, key=lambda t: t.values[0], reverse=exp.directions[0] == "maximize"
    )
    return front, front[0].values


def write_experiment_report(study: optuna.Study, exp: ExperimentInfo) -> dict[str, Any]:
    """Write the files above and return the summary that goes into the experiment row."""
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rows = trial_rows(study)
    best_trials, best_value = _best(study, exp)
    best = best_trials[0] if best_trials else None
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    summary: dict[str, Any] = {
        "objectives": exp.objectives,
        "counts": counts,
        "total_epochs": sum(r["epochs"] or 0 for r in rows),
        "best_value": best_value,
        "best_trial": best.number if best else None,
        "best_params": dict(best.params) if best else None,
        "best_run_id": best.user_attrs.get("run_id") if best else None,
        "best_run_dir": best.user_attrs.get("run_dir") if best else None,
        "pareto_front": [t.number for t in best_trials] if len(exp.objectives) > 1 else None,
        "importances": _importances(study, exp),
    }
    if best is not None and summary["best_run_dir"]:
        summary["model_dir"] = str(_copy_model(Path(summary["best_run_dir"]), out / "model"))
    summary["plots"] = _plots(study, exp, out)
    write_json(out / "experiment.json", summary | {"name": exp.name, "trials": rows})
    flat = [
        {k: v for k, v in r.items() if k not in ("params", "intermediate")}
        | {f"param.{k}": v for k, v in r["params"].items()}
        for r in rows
    ]
    with (out / "trials.csv").open("w", newline="") as handle:
        rows_to_csv(flat, handle)
    return json.loads(json.dumps(summary, default=str))


def _copy_model(run_dir: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("card.json", "model.safetensors", "metrics.json"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
    return target


def _importances(study: optuna.Study, exp: ExperimentInfo) -> dict[str, float] | None:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or not complete[0].params:
        return None
    try:
        target = None if len(exp.objectives) == 1 else (lambda t: t.values[0])
        return {
            k: round(float(v), 4)
            for k, v in optuna.importance.get_param_importances(study, target=target).items()
        }
    except (RuntimeError, ValueError):  # no variation in the finished trials' parameters
        return None


def _plots(study: optuna.Study, exp: ExperimentInfo, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as oplt

    multi = len(exp.objectives) > 1
    first = exp.objectives[0][0]
    target = (lambda t: t.values[0]) if multi else None
    plots: dict[str, Any] = {
        "optimization_history": lambda: oplt.plot_optimization_history(
            study, target=target, target_name=first
        ),
        "parallel_coordinate": lambda: oplt.plot_parallel_coordinate(
            study, target=target, target_name=first
        ),
    }
    if not multi:
        plots["intermediate_values"] = lambda: oplt.plot_intermediate_values(study)
    else:
        plots["pareto_front"] = lambda: oplt.plot_pareto_front(
            study, target_names=[m for m, _ in exp.objectives]
        )
    if _importances(study, exp):
        plots["param_importances"] = lambda: oplt.plot_param_importances(
            study, target=target, target_name=first
        )
    written = []
    for name, draw in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = draw()
            except (ValueError, RuntimeError):
                continue  # e.g. nothing finished yet, or one parameter only
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(9, 5.5)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=110)
        plt.close(figure)
        written.append(f"{name}.png")
    return written


def finished(study: optuna.Study) -> bool:
    """No trial is running or waiting."""
    return all(t.state in _FINISHED for t in study.get_trials(deepcopy=False))
