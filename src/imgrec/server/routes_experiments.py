"""Experiments: the search form's defaults, starting a search, its state, history, importance."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal, get_args, get_origin

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from imgrec.errors import ImgrecError, NotFoundError
from imgrec.server.deps import ConfigDep, LibraryDep, StoreDep
from imgrec.server.progress import experiment_out, trial_values
from imgrec.server.schemas import (
    ExperimentCreate,
    ExperimentDetail,
    ExperimentOut,
    History,
    Importance,
    RunOut,
    SearchDefaults,
)
from imgrec.store import ExperimentInfo, Store

__all__ = ["router"]

router = APIRouter(tags=["experiments"])
# (database, experiment) -> (completed trials when computed, importances); one computation at a
# time per experiment however many pages ask, and one Optuna storage per database.
_IMPORTANCE_CACHE: dict[tuple[str, int], tuple[int, dict[str, float]]] = {}
_IMPORTANCE_LOCKS: dict[tuple[str, int], asyncio.Lock] = {}
_STORAGES: dict[str, Any] = {}


def _experiment(store: Store, experiment_id: int) -> ExperimentInfo:
    try:
        return store.get_experiment(experiment_id)
    except NotFoundError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no experiment {experiment_id}"
        ) from exc


@router.get("/search/defaults", response_model=SearchDefaults)
def search_defaults() -> dict[str, Any]:
    """What the new-experiment form offers: searchable parameters with default bounds."""
    from imgrec.models import list_models
    from imgrec.search.objectives import OBJECTIVE_METRICS, RUN_COSTS
    from imgrec.search.space import DEFAULT_SPACE, SEARCHABLE
    from imgrec.search.study import PRUNERS, SAMPLERS

    params = {
        name: {
            "config_key": key,
            "type": kind.__name__,
            "default": DEFAULT_SPACE.get(name),
            "choices": _allowed(key),
        }
        for name, (key, kind) in SEARCHABLE.items()
    }
    return {
        "params": params,
        "default_space": DEFAULT_SPACE,
        "models": list_models(),
        "samplers": list(SAMPLERS),
        "pruners": list(PRUNERS),
        "metrics": [m for m in OBJECTIVE_METRICS if m not in RUN_COSTS and m != "train_loss"],
    }


def _allowed(config_key: str) -> list[Any] | None:
    """The values a config key allows when it is a fixed set (optimizer, scheduler, augment)."""
    from imgrec.config import RunConfig

    section, _, field = config_key.partition(".")
    model = RunConfig.model_fields[section].annotation
    found = getattr(model, "model_fields", {}).get(field)
    if found is None or get_origin(found.annotation) is not Literal:
        return None
    return list(get_args(found.annotation))


def _field_errors(space: dict[str, Any]) -> dict[str, str]:
    """Each searched parameter checked on its own, so the page can show errors by field."""
    from imgrec.search.space import parse_space

    errors: dict[str, str] = {}
    for name, spec in space.items():
        try:
            parse_space({name: spec}, origin="search space")
        except ImgrecError as exc:
            errors[name] = str(exc).replace("search space: ", "", 1)
    return errors


def _create(body: ExperimentCreate, store: Store, config: ConfigDep, archive: str) -> ExperimentOut:
    from imgrec.api import tune

    errors = _field_errors(body.space)
    if errors:
        raise HTTPException(
            422,
            detail={"message": "some bounds are not valid", "errors": errors},
        )
    if body.name:
        try:
            store.get_experiment(body.name)
        except NotFoundError:
            pass
        else:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail={"message": "name taken", "errors": {"name": f"'{body.name}' exists"}},
            )
    overrides: dict[str, Any] = {"train.seed": body.seed, "task": body.task}
    if body.image_size is not None:
        overrides["data.img_size"] = body.image_size
    try:
        result = tune(
            archive,
            space=body.space or None,
            trials=body.trials,
            timeout=body.timeout_min * 60 if body.timeout_min else None,
            sampler=body.sampler,
            pruner=body.pruner,
            metrics=[body.metric],
            workers=0,
            name=body.name,
            out=config.experiments_dir,
            db=config.db_url,
            show_progress=False,
            **overrides,
        )
    except ImgrecError as exc:
        message = str(exc).replace(archive, "the uploaded dataset")
        raise HTTPException(422, detail={"message": message, "errors": {}}) from exc
    exp = store.get_experiment(result.experiment)
    return experiment_out(store, exp, [], uploads_dir=config.uploads_dir.resolve())


@router.post("/experiments", status_code=status.HTTP_201_CREATED)
async def create_experiment(
    body: ExperimentCreate, store: StoreDep, config: ConfigDep, library: LibraryDep
) -> ExperimentOut:
    """Start a search on an uploaded dataset; the server's (or external) workers run it."""
    try:
        meta = library.meta(body.dataset_id)
    except KeyError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no dataset '{body.dataset_id}'; upload it first"
        ) from exc
    if meta["status"] != "ready" or not meta.get("usable"):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"dataset '{meta['name']}' is {meta['status']} and "
            f"{'usable' if meta.get('usable') else 'not usable'}: "
            f"{meta.get('error') or 'wait for its check to finish'}",
        )
    archive = str(library.archive(body.dataset_id).resolve())
    return await run_in_threadpool(_create, body, store, config, archive)


@router.get("/experiments")
def list_experiments(
    store: StoreDep, config: ConfigDep, limit: Annotated[int | None, Query(ge=1)] = None
) -> list[ExperimentOut]:
    """Experiments, newest first, with their progress."""
    uploads = config.uploads_dir.resolve()
    experiments = list(reversed(store.list_experiments()))[:limit]
    briefs = store.run_briefs([e.id for e in experiments])
    return [experiment_out(store, e, briefs[e.id], uploads_dir=uploads) for e in experiments]


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: int, store: StoreDep, config: ConfigDep) -> ExperimentDetail:
    exp = _experiment(store, experiment_id)
    runs = store.list_runs(experiment_id=exp.id)
    out = experiment_out(store, exp, runs, uploads_dir=config.uploads_dir.resolve())
    trials = [RunOut.of(r) for r in sorted(runs, key=lambda r: (r.trial_number or 0, r.id))]
    return ExperimentDetail(**out.model_dump(), trials=trials)


@router.post("/experiments/{experiment_id}/cancel")
def cancel_experiment(experiment_id: int, store: StoreDep, config: ConfigDep) -> ExperimentOut:
    """No new trials start; running ones stop after their current epoch."""
    exp = _experiment(store, experiment_id)
    if exp.status == "open":
        store.set_experiment_status(exp.id, "cancelled")
        exp = store.get_experiment(exp.id)
    runs = store.run_briefs([exp.id])[exp.id]
    return experiment_out(store, exp, runs, uploads_dir=config.uploads_dir.resolve())


@router.get("/experiments/{experiment_id}/history", response_model=History)
def history(experiment_id: int, store: StoreDep) -> dict[str, Any]:
    """Optimisation history: each completed trial's value and the best so far."""
    exp = _experiment(store, experiment_id)
    runs = sorted(store.run_briefs([exp.id])[exp.id], key=lambda r: r.trial_number or 0)
    values = trial_values(store, exp, runs)
    maximise = exp.directions[0] == "maximize"
    points, best = [], None
    for run in runs:
        value = values.get(run.id)
        if value is None:
            continue
        if best is None or (value > best if maximise else value < best):
            best = value
        points.append({"trial": run.trial_number, "run_id": run.id, "value": value, "best": best})
    return {"metric": exp.metrics[0], "direction": exp.directions[0], "points": points}


def _importance(store: Store, exp: ExperimentInfo) -> dict[str, float]:
    import optuna

    from imgrec.search.study import optuna_storage

    storage = _STORAGES.get(store.url)
    if storage is None:
        storage = _STORAGES[store.url] = optuna_storage(store.url, heartbeat_s=60.0, grace_s=120.0)
    try:
        study = optuna.load_study(study_name=exp.name, storage=storage)
    except KeyError:  # an experiment row without its study (made outside imgrec.tune)
        return {}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or len(exp.objectives) > 1:
        return {}
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. every parameter constant so far
        return {}
    return {k: float(v) for k, v in found.items()}


@router.get("/experiments/{experiment_id}/importance", response_model=Importance)
async def importance(experiment_id: int, store: StoreDep) -> dict[str, Any]:
    """fANOVA parameter importances (Optuna) over the completed trials; cached per trial count."""
    exp = await run_in_threadpool(_experiment, store, experiment_id)
    if exp.summary.get("importances"):
        return {"params": exp.summary["importances"]}
    counts = await run_in_threadpool(store.run_counts, exp.id)
    complete = counts.get("completed", 0)
    key = (store.url, exp.id)
    async with _IMPORTANCE_LOCKS.setdefault(key, asyncio.Lock()):
        cached = _IMPORTANCE_CACHE.get(key)
        if cached is None or cached[0] != complete:
            params = await run_in_threadpool(_importance, store, exp)
            cached = _IMPORTANCE_CACHE[key] = (complete, params)
    return {"params": cached[1]}
