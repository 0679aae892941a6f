"""Experiments: the search form's defaults, starting a search, its state, history, importance."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal, get_args, get_origin

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from imgrec.errors import ImgrecError, NotFoundError
from imgrec.server.curves import task_metrics
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
    TaskName,
)
from imgrec.store import ExperimentInfo, Store

__all__ = ["router"]

router = APIRouter(tags=["experiments"])
# (database, experiment) -> (completed trials when computed, importances); one computation at a
# time per experiment however many pages ask.
_IMPORTANCE_CACHE: dict[tuple[str, int], tuple[int, dict[str, float]]] = {}
_IMPORTANCE_LOCKS: dict[tuple[str, int], asyncio.Lock] = {}


def _experiment(store: Store, experiment_id: int) -> ExperimentInfo:
    try:
        return store.get_experiment(experiment_id)
    except NotFoundError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no experiment {experiment_id}"
        ) from exc


@router.get("/search/defaults", response_model=SearchDefaults)
def search_defaults(task: TaskName = "classify") -> dict[str, Any]:
    """What the new-experiment form offers for ``task``: searchable parameters with the task's
    default bounds, its models (the detector families for ``detect``, the segmenters for
    ``segment``, the instance segmenters for ``instance``) and objectives."""
    from imgrec.api import search_options

    options = search_options(task)
    info = task_metrics(task)
    space = options["default_space"]
    params = {
        name: {
            "config_key": key,
            "type": kind,
            "default": space.get(name),
            "choices": _allowed(key),
        }
        for name, (key, kind) in options["params"].items()
    }
    return {
        "task": task,
        "params": params,
        "default_space": space,
        "models": options["models"],
        "samplers": options["samplers"],
        "pruners": options["pruners"],
        "metrics": _objectives(info),
        "objective": info["monitor"],
        "metric_labels": {m["name"]: m["label"] for m in info["metrics"]},
    }


def _objectives(info: dict[str, Any]) -> list[str]:
    """The metrics the form offers as objective: the task's, except the training loss."""
    return [m["name"] for m in info["metrics"] if m["name"] != "train_loss"]


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
    from imgrec.api import check_space

    errors: dict[str, str] = {}
    for name, spec in space.items():
        try:
            check_space({name: spec}, origin="search space")
        except ImgrecError as exc:
            errors[name] = str(exc).replace("search space: ", "", 1)
    return errors


def _unprocessable(message: str, **errors: str) -> HTTPException:
    return HTTPException(422, detail={"message": message, "errors": errors})


# What one model of a task is called, and what a search of the task is called, in messages.
_MODEL_WORDS = {
    "detect": ("detector", "detection"),
    "segment": ("segmenter", "segmentation"),
    "instance": ("instance segmenter", "instance segmentation"),
}


def _task_space(task: str, space: dict[str, Any]) -> dict[str, Any]:
    """The space as ``tune`` takes it: a detection or segmentation search trains one model of
    its task, named in ``fixed`` (the searchable ``model`` choices are classifiers)."""
    if task not in _MODEL_WORDS or "model" not in space:
        return space
    from imgrec.api import task_models

    model, search = _MODEL_WORDS[task]
    space = dict(space)
    chosen = space.pop("model")
    names = chosen if isinstance(chosen, list) else [chosen]
    known = task_models(task)
    if len(names) != 1 or not isinstance(names[0], str):
        raise _unprocessable(
            f"pick one {model}", model=f"a {search} search trains one {model}; pick one"
        )
    if names[0] not in known:
        raise _unprocessable(
            f"unknown {model}", model=f"unknown {model} '{names[0]}'; one of: {', '.join(known)}"
        )
    fixed = space.get("fixed")
    space["fixed"] = {**(fixed if isinstance(fixed, dict) else {}), "model.name": names[0]}
    return space


def _create(
    body: ExperimentCreate, task: str, store: Store, config: ConfigDep, archive: str
) -> ExperimentOut:
    from imgrec.api import tune

    metrics = _objectives(task_metrics(task))
    metric = body.metric or task_metrics(task)["monitor"]
    if metric not in metrics:
        raise _unprocessable(
            f"'{metric}' is not an objective of a {task} search",
            metric=f"not a {task} metric; one of: {', '.join(metrics)}",
        )
    space = _task_space(task, body.space)
    errors = _field_errors(space)
    if errors:
        raise _unprocessable("some bounds are not valid", **errors)
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
    overrides: dict[str, Any] = {"train.seed": body.seed, "task": task}
    if body.image_size is not None:
        overrides["data.img_size"] = body.image_size
    try:
        result = tune(
            archive,
            space=space or None,
            trials=body.trials,
            timeout=body.timeout_min * 60 if body.timeout_min else None,
            sampler=body.sampler,
            pruner=body.pruner,
            metrics=[metric],
            workers=0,
            name=body.name,
            out=config.experiments_dir,
            db=config.db_url,
            show_progress=False,
            **overrides,
        )
    except ImgrecError as exc:
        raise _unprocessable(str(exc).replace(archive, "the uploaded dataset")) from exc
    exp = store.get_experiment(result.experiment)
    return experiment_out(store, exp, [], uploads_dir=config.uploads_dir.resolve())


@router.post("/experiments", status_code=status.HTTP_201_CREATED)
async def create_experiment(
    body: ExperimentCreate, store: StoreDep, config: ConfigDep, library: LibraryDep
) -> ExperimentOut:
    """Start a search on an uploaded dataset; the server's (or external) workers run it.

    The task is the dataset's (a COCO, YOLO or VOC upload is ``detect``, mask folders are
    ``segment``, COCO with masks ``instance``) or another its layout allows (COCO with masks
    trains ``detect`` and ``segment`` too); a ``task`` the dataset cannot train, a model of
    another task, an objective the task does not log, or bounds that are not valid are a 422
    whose ``detail.errors`` name the field.
    """
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
    task = meta.get("task") or "classify"  # the readers of the dataset's layout
    allowed = meta.get("tasks") or [task]
    if body.task is not None and body.task not in allowed:
        layout = str(meta.get("layout") or "").upper()
        choices = " or ".join(allowed)
        raise _unprocessable(
            f"'{meta['name']}' is a {layout} {task} dataset, not a {body.task} one",
            task=f"this dataset is for {choices}; choose {choices} or another dataset",
        )
    task = body.task or task
    archive = str(library.archive(body.dataset_id).resolve())
    return await run_in_threadpool(_create, body, task, store, config, archive)


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
    from imgrec.api import param_importances

    if len(exp.objectives) > 1:
        return {}
    return param_importances(exp.name, db=store.url)


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
