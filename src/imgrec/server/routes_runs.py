"""Runs: the sortable list, one run's metrics and files, its model as a zip, predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse

from imgrec.errors import ImgrecError, NotFoundError
from imgrec.server.deps import StoreDep
from imgrec.server.schemas import Comparison, RunDetail, RunOut, RunPage
from imgrec.store import RunInfo, Store
from imgrec.store.reports import compare_runs

__all__ = ["router", "run_dir_or_404", "run_or_404"]

router = APIRouter(tags=["runs"])
_SERVABLE = {".png": "image/png", ".csv": "text/csv", ".json": "application/json"}


def run_or_404(store: Store, run_id: int) -> RunInfo:
    try:
        return store.get_run(run_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id}") from exc


def run_dir_or_404(run: RunInfo) -> Path:
    if not run.run_dir or not Path(run.run_dir).is_dir():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"run {run.id} has no run directory on this server"
        )
    return Path(run.run_dir)


@router.get("/runs")
def list_runs(
    store: StoreDep,
    status_: Annotated[str | None, Query(alias="status")] = None,
    model: str | None = None,
    experiment_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: str = "-id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    """All runs, filtered (state, model, experiment, text in name/model), sorted and paged."""
    try:
        total, runs = store.search_runs(
            status=status_,
            model=model,
            experiment_id=experiment_id,
            text=q,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    except ImgrecError as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    return RunPage(total=total, items=[RunOut.of(r) for r in runs])


@router.get("/runs/compare", response_model=Comparison)
def compare(store: StoreDep, ids: str) -> dict[str, Any]:
    """Runs side by side (``ids=1,2,3``): the parameters that differ and the metrics."""
    try:
        wanted = [int(i) for i in ids.split(",") if i.strip()]
    except ValueError as exc:
        raise HTTPException(422, detail="ids must be run ids separated by commas") from exc
    runs = store.runs_by_ids(wanted[:20])
    return {"rows": json.loads(json.dumps(compare_runs(runs), default=str))}


def _per_class(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """metrics.json's per-class rows (classification: precision/recall/F1, then the macro and
    weighted averages as per_class.csv; detection: AP, AP50, instances)."""
    rows = [
        {"class": r.get("name", r.get("class")), **{k: v for k, v in r.items() if k != "name"}}
        for r in metrics.get("per_class", [])
    ]
    for name in ("macro avg", "weighted avg"):
        average = metrics.get(name.replace(" ", "_"))
        if average:
            rows.append({"class": name, **average})
    return rows


def _detail(store: Store, run: RunInfo) -> RunDetail:
    folder = Path(run.run_dir) if run.run_dir else None
    metrics: dict[str, Any] = {}
    per_class: list[dict[str, Any]] = []
    confusion = None
    images: list[str] = []
    if folder is not None and folder.is_dir():
        if (folder / "metrics.json").is_file():
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        per_class = _per_class(metrics)
        matrix = metrics.get("confusion_matrix")
        if matrix and metrics.get("classes"):
            classes = list(metrics["classes"])
            if len(matrix) == len(classes) + 1:  # detection: a background row and column
                classes.append("background")
            confusion = {"classes": classes, "matrix": matrix}
        images = sorted(p.name for p in folder.glob("*.png"))
    return RunDetail(
        run=RunOut.of(run),
        epochs=store.epochs_after(0, run_id=run.id),
        artifacts=[a.model_dump() for a in store.artifacts(run.id)],
        metrics=metrics,
        per_class=per_class,
        confusion=confusion,
        images=images,
        has_model=folder is not None and (folder / "model.safetensors").is_file(),
    )


@router.get("/runs/{run_id}")
def get_run(run_id: int, store: StoreDep) -> RunDetail:
    """One run: state, epochs, metrics, per-class table, confusion matrix, its images."""
    return _detail(store, run_or_404(store, run_id))


@router.get("/runs/{run_id}/files/{name}")
def run_file(run_id: int, name: str, store: StoreDep) -> FileResponse:
    """A PNG, CSV or JSON file from the run directory's top level, by plain file name."""
    folder = run_dir_or_404(run_or_404(store, run_id))
    suffix = Path(name).suffix.lower()
    if Path(name).name != name or name.startswith(".") or suffix not in _SERVABLE:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file '{name}' in run {run_id}")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file '{name}' in run {run_id}")
    return FileResponse(path, media_type=_SERVABLE[suffix])
