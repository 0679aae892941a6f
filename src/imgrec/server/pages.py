"""The workbench pages: server-rendered Jinja2 templates over the same functions as the JSON API.

Each page renders its initial state on the server (lists work without JavaScript); the live parts
(upload progress, the experiment feed, charts, predictions) are small scripts in ``static/`` that
talk to ``/api`` and ``/ws``. Every string from users goes through Jinja's autoescaping.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from imgrec.server import routes_datasets, routes_experiments, routes_runs
from imgrec.server.curves import epoch_curves, live_curves
from imgrec.server.deps import TOKEN_COOKIE, ConfigDep, LibraryDep, StoreDep
from imgrec.server.render import AUTH, not_found, render
from imgrec.store.reports import compare_runs
from imgrec.store.tables import RUN_STATES

__all__ = ["router", "safe_next"]

router = APIRouter(include_in_schema=False)
# (sort key or "", label, numeric) for the runs table; keys are /api/runs sort columns
RUN_COLUMNS = [
    ("id", "Id", True),
    ("name", "Name", False),
    ("status", "Status", False),
    ("model", "Model", False),
    ("experiment_id", "Trial", False),
    ("primary_value", "Test score", True),  # accuracy, mAP, ...: the task's summary metric
    ("best_val", "Best val", True),
    ("epochs_completed", "Epochs", True),
    ("train_time_s", "Train time", True),
    ("latency_ms", "Latency (ms)", True),
    ("created_at", "Created", False),
]


# ---------------------------------------------------------------- login


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site (one leading '/'), else ``/``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:  # `next` is the query name
    return render(request, "login.html", next=safe_next(next), error=None, hide_nav=True)


@router.post("/login", response_model=None)
def login(
    request: Request,
    config: ConfigDep,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # `next` is the form field name
) -> Response:
    target = safe_next(next)
    if config.token and not hmac.compare_digest(token.encode(), config.token.encode()):
        error = "That is not this server's token."
        return render(request, "login.html", 401, next=target, error=error, hide_nav=True)
    response = RedirectResponse(target, status_code=303)
    if config.token:
        secure = request.url.scheme == "https"
        response.set_cookie(
            TOKEN_COOKIE, config.token, httponly=True, samesite="strict", secure=secure
        )
    return response


# ---------------------------------------------------------------- home


@router.get("/", response_class=HTMLResponse, dependencies=AUTH)
def home(request: Request, store: StoreDep, config: ConfigDep, library: LibraryDep) -> HTMLResponse:
    return render(
        request,
        "home.html",
        experiments=routes_experiments.list_experiments(store, config, limit=10),
        datasets=routes_datasets.list_datasets(library)[:10],
        runs=store.list_runs(limit=10),
    )


@router.get("/experiments", response_class=HTMLResponse, dependencies=AUTH)
def experiments(request: Request, store: StoreDep, config: ConfigDep) -> HTMLResponse:
    items = routes_experiments.list_experiments(store, config)
    return render(request, "experiments.html", section="Experiments", experiments=items)


# ---------------------------------------------------------------- experiments


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse, dependencies=AUTH)
def experiment(
    request: Request, experiment_id: int, store: StoreDep, config: ConfigDep
) -> HTMLResponse:
    try:
        detail = routes_experiments.get_experiment(experiment_id, store, config)
    except HTTPException:
        return not_found(request, "No such experiment.", ("/experiments", "all experiments"))
    curves = live_curves(detail.task, detail.metric)
    page_data = {
        "id": detail.id,
        "status": detail.status,
        "metric": detail.metric,
        "task": detail.task,
        "best_run_id": detail.best_run_id,
        "curves": curves,
    }
    return render(
        request,
        "experiment.html",
        section="Experiments",
        e=detail,
        trials=detail.trials,
        curves=curves,
        page_data=page_data,
    )


# ---------------------------------------------------------------- runs


@router.get("/runs", response_class=HTMLResponse, dependencies=AUTH)
def runs(
    request: Request,
    store: StoreDep,
    status: str = "",
    model: str = "",
    experiment_id: str = "",
    q: str = "",
    sort: str = "-id",
    offset: int = 0,
) -> HTMLResponse:
    limit = 50
    status = status if status in RUN_STATES else ""
    experiment_id = experiment_id if experiment_id.isdigit() else ""
    sort = sort if sort.lstrip("-") in {c[0] for c in RUN_COLUMNS} else "-id"
    model, q, offset = model[:100], q[:100], max(0, offset)
    page = routes_runs.list_runs(
        store,
        status_=status or None,
        model=model or None,
        experiment_id=int(experiment_id) if experiment_id else None,
        q=q or None,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    query: dict[str, Any] = {
        "status": status,
        "model": model,
        "experiment_id": experiment_id,
        "q": q,
        "sort": sort,
        "offset": offset,
        "limit": limit,
    }
    filters = {k: v for k, v in query.items() if k in ("status", "model", "experiment_id", "q")}

    def sort_link(key: str) -> str:
        order = f"-{key}" if sort == key else key
        return urlencode({k: v for k, v in filters.items() if v} | {"sort": order})

    def page_link(step: int) -> str:
        start = max(0, offset + step * limit)
        args = {k: v for k, v in filters.items() if v} | {"sort": sort, "offset": start}
        return urlencode(args)

    return render(
        request,
        "runs.html",
        section="Runs",
        runs=page.items,
        total=page.total,
        query=query,
        statuses=RUN_STATES,
        columns=RUN_COLUMNS,
        sort_link=sort_link,
        page_link=page_link,
    )


@router.get("/runs/compare", response_class=HTMLResponse, dependencies=AUTH)
def compare(request: Request, store: StoreDep, ids: str = "") -> HTMLResponse:
    wanted = [int(i) for i in ids.split(",") if i.strip().isdigit()][:20]
    found = store.runs_by_ids(wanted)
    missing = [str(i) for i in wanted if i not in {r.id for r in found}]
    rows = compare_runs(found) if found else []
    # the score of the first run's task (val accuracy, val mAP), for every run that logged it
    tasks = [r.task for r in found] or ["classify"]
    score = live_curves(tasks[0], "")["score"] or {"name": "val_accuracy", "label": "Val accuracy"}
    curves = {
        r.id: [
            [e.epoch, e.value(score["name"])]
            for e in store.epochs(r.id)
            if e.value(score["name"]) is not None
        ]
        for r in found
    }
    runs = [{"id": r.id, "name": r.name, "points": curves[r.id]} for r in found]
    return render(
        request,
        "compare.html",
        section="Runs",
        runs=found,
        rows=rows,
        missing=missing,
        score=score,
        page_data={"runs": runs, "score": score},
    )


def _heat(confusion: dict[str, Any] | None) -> dict[str, Any] | None:
    """The confusion matrix as rows of cells with a colour strength (share of the true class)."""
    if not confusion or not confusion.get("matrix"):
        return None
    classes = list(confusion["classes"])
    rows = []
    for label, values in zip(classes, confusion["matrix"], strict=False):
        total = sum(values) or 1
        cells = [
            {"value": v, "alpha": round(0.06 + 0.94 * v / total, 3) if v else 0} for v in values
        ]
        rows.append({"label": label, "cells": cells})
    return {"classes": classes, "rows": rows}


@router.get("/runs/{run_id}", response_class=HTMLResponse, dependencies=AUTH)
def run(request: Request, run_id: int, store: StoreDep) -> HTMLResponse:
    try:
        detail = routes_runs.get_run(run_id, store)
    except HTTPException:
        return not_found(request, "No such run.", ("/runs", "all runs"))
    scalars = [
        (k, v)
        for k, v in sorted(detail.metrics.items())
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    curves = epoch_curves(detail.run.task, detail.epochs)
    return render(
        request,
        "run.html",
        section="Runs",
        detail=detail,
        confusion=_heat(detail.confusion),
        scalar_metrics=scalars,
        page_data={
            "id": detail.run.id,
            "task": detail.run.task,
            "epochs": curves["epochs"],
            "series": curves["series"],
            "score_axis": curves["score_axis"],
            "has_model": detail.has_model,
        },
    )
