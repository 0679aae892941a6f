"""Runs: the sortable list, one run's metrics and files, its model as a zip, predictions."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.datastructures import UploadFile

from imgrec.errors import ImgrecError
from imgrec.server.deps import StoreDep
from imgrec.server.schemas import RunDetail, RunOut, RunPage
from imgrec.store import RunInfo, Store
from imgrec.store.reports import compare_runs

__all__ = ["MODEL_FILES", "router"]

router = APIRouter(tags=["runs"])
MODEL_FILES = ("model.safetensors", "card.json", "metrics.json", "config.yaml")
_SERVABLE = {".png": "image/png", ".csv": "text/csv", ".json": "application/json"}
MAX_IMAGE_BYTES = 20 * 1024**2


def _run(store: Store, run_id: int) -> RunInfo:
    try:
        return store.get_run(run_id)
    except ImgrecError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


def _run_dir(run: RunInfo) -> Path:
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


@router.get("/runs/compare")
def compare(store: StoreDep, ids: str) -> dict[str, Any]:
    """Runs side by side (``ids=1,2,3``): the parameters that differ and the metrics."""
    try:
        wanted = [int(i) for i in ids.split(",") if i.strip()]
    except ValueError as exc:
        raise HTTPException(422, detail="ids must be run ids separated by commas") from exc
    runs = store.runs_by_ids(wanted[:20])
    return {"rows": json.loads(json.dumps(compare_runs(runs), default=str))}


def _csv_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _detail(store: Store, run: RunInfo) -> RunDetail:
    folder = Path(run.run_dir) if run.run_dir else None
    metrics: dict[str, Any] = {}
    per_class: list[dict[str, Any]] = []
    confusion = None
    images: list[str] = []
    if folder is not None and folder.is_dir():
        if (folder / "metrics.json").is_file():
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        rows = _csv_rows(folder / "per_class.csv")
        if rows:
            per_class = [
                {k: _number(v) if k != "class" else v for k, v in zip(rows[0], row, strict=False)}
                for row in rows[1:]
            ]
        rows = _csv_rows(folder / "confusion_matrix.csv")
        if rows:
            confusion = {
                "classes": rows[0][1:],
                "matrix": [[int(float(v)) for v in row[1:]] for row in rows[1:]],
            }
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
    return _detail(store, _run(store, run_id))


@router.get("/runs/{run_id}/files/{name}")
def run_file(run_id: int, name: str, store: StoreDep) -> FileResponse:
    """A PNG, CSV or JSON file from the run directory's top level, by plain file name."""
    folder = _run_dir(_run(store, run_id))
    suffix = Path(name).suffix.lower()
    if Path(name).name != name or name.startswith(".") or suffix not in _SERVABLE:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file '{name}' in run {run_id}")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file '{name}' in run {run_id}")
    return FileResponse(path, media_type=_SERVABLE[suffix])


def _model_zip(run: RunInfo, folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in MODEL_FILES:
            if (folder / name).is_file():
                zf.write(folder / name, arcname=name)
    return buffer.getvalue()


@router.get("/runs/{run_id}/model.zip")
async def download_model(run_id: int, store: StoreDep) -> Response:
    """The trained model as a zip: ``model.safetensors`` + ``card.json`` (+ metrics, config).

    Unzip it and use the folder like a run directory: ``imgrec predict <folder> image.jpg``.
    """
    run = _run(store, run_id)
    folder = _run_dir(run)
    if not (folder / "model.safetensors").is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"run {run_id} has no trained model ({run.status}); only completed runs do",
        )
    data = await run_in_threadpool(_model_zip, run, folder)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)[:60] or "model"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{safe}-run{run.id}.zip"'},
    )


def _predict(folder: Path, data: bytes, top_k: int, explain: str) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    from imgrec.api import explain as explain_images
    from imgrec.api import predict

    started = time.perf_counter()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            image = img.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"not an image this server can read ({exc})"
        ) from exc
    prediction = predict(folder, [image], top_k=top_k, device="cpu")[0]
    if prediction.error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=prediction.error)
    heatmap = None
    if explain != "none":
        heatmap = _heatmap_png(explain_images(folder, [image], method=explain, device="cpu")[0])
    return {
        "predictions": [{"label": n, "probability": p} for n, p in prediction.top_k],
        "heatmap_png": heatmap,
        "time_ms": (time.perf_counter() - started) * 1000,
    }


def _heatmap_png(explanation: Any) -> str:
    import numpy as np
    from PIL import Image

    from imgrec.explain.overlay import overlay, upscale

    blended = upscale(overlay(explanation.pixels, explanation.heatmap))
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(blended, dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _inspect(folder: Path, view: str) -> dict[str, Any]:
    from imgrec.api import inspect

    cached = folder / "inspect" / f"web-{view}.json"
    if cached.is_file():
        found: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return found
    result = inspect(folder, view, device="cpu", max_images=1000)
    png = result.pop("png", None)
    answer = {
        "view": view,
        "png": base64.b64encode(Path(png).read_bytes()).decode() if png else None,
        "table": result.get("table"),
        "details": {
            k: v
            for k, v in result.items()
            if k
            in (
                "layer",
                "shape",
                "shown",
                "method",
                "source",
                "confused_pairs",
                "total_params",
                "total_macs",
            )
        },
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(answer, default=str), encoding="utf-8")
    return answer


@router.get("/runs/{run_id}/inspect/{view}")
async def inspect_run(
    run_id: int, view: Literal["filters", "embedding", "summary"], store: StoreDep
) -> dict[str, Any]:
    """Look inside the run's model: its first-layer ``filters``, the ``embedding`` map of its
    test split (PCA), or the layer ``summary``. Computed once, then served from the run folder.
    """
    folder = _run_dir(_run(store, run_id))
    if not (folder / "model.safetensors").is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"run {run_id} has no model")
    try:
        return await run_in_threadpool(_inspect, folder, view)
    except ImgrecError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc


@router.post("/runs/{run_id}/predict")
async def predict_image(
    run_id: int,
    request: Request,
    store: StoreDep,
    top_k: Annotated[int, Query(ge=1, le=50)] = 5,
    explain: Annotated[str, Query(pattern=r"^(none|gradcam|gradcam\+\+|layercam|eigencam)$")] = (
        "none"
    ),
) -> dict[str, Any]:
    """Classify one image (the raw body, or multipart field ``file``); optionally a heatmap."""
    folder = _run_dir(_run(store, run_id))
    if not (folder / "model.safetensors").is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"run {run_id} has no model")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        data = await upload.read(MAX_IMAGE_BYTES + 1) if isinstance(upload, UploadFile) else b""
    else:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_IMAGE_BYTES:
                break
    if len(data) > MAX_IMAGE_BYTES:
        raise HTTPException(413, detail=f"images up to {MAX_IMAGE_BYTES // 1024**2} MiB")
    if not data:
        raise HTTPException(400, detail="no image in the request body")
    try:
        return await run_in_threadpool(_predict, folder, data, top_k, explain)
    except ImgrecError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
