"""A run's model: download it as a zip, try it on an image (with a heatmap, its boxes or its
masks drawn), look inside it.

Loaded models are kept in a small cache (keyed by the weights file and its time stamp) and at
most two requests use torch at once, so a burst of predictions neither reloads the model each
time nor starves the pages of CPU.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from imgrec.errors import ImgrecError
from imgrec.server.bodies import read_capped, require_raw_body
from imgrec.server.deps import StoreDep
from imgrec.server.routes_runs import run_dir_or_404, run_or_404
from imgrec.server.schemas import InspectOut, PredictionOut
from imgrec.store import RunInfo

__all__ = ["MODEL_FILES", "router"]

router = APIRouter(tags=["models"])
MODEL_FILES = ("model.safetensors", "card.json", "metrics.json", "config.yaml")
MAX_IMAGE_BYTES = 20 * 1024**2
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_TYPES = ("image/*", "application/octet-stream")
_TORCH_SLOTS = threading.BoundedSemaphore(2)
_CACHE_SIZE = 4
_predictors: OrderedDict[tuple[str, float], Any] = OrderedDict()
_predictors_lock = threading.Lock()


def _model_run(store: Any, run_id: int) -> tuple[RunInfo, Path]:
    """The run and its folder; 404 unless it holds a trained model."""
    run = run_or_404(store, run_id)
    folder = run_dir_or_404(run)
    if not (folder / "model.safetensors").is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"run {run_id} has no trained model ({run.status}); only completed runs do",
        )
    return run, folder


def _predictor(folder: Path) -> Any:
    """The loaded model of ``folder`` (cached; a retrained run has new weights, a new key)."""
    from imgrec.api import load

    key = (str(folder), (folder / "model.safetensors").stat().st_mtime)
    with _predictors_lock:
        if key in _predictors:
            _predictors.move_to_end(key)
            return _predictors[key]
    predictor = load(folder, device="cpu")
    with _predictors_lock:
        _predictors[key] = predictor
        while len(_predictors) > _CACHE_SIZE:
            _predictors.popitem(last=False)
    return predictor


def _zip_model(folder: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix="imgrec-model-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in MODEL_FILES:
            if (folder / file).is_file():
                zf.write(folder / file, arcname=file)
    return Path(name)


@router.get(
    "/runs/{run_id}/model.zip",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {}},
)
async def download_model(run_id: int, store: StoreDep) -> FileResponse:
    """The trained model as a zip: ``model.safetensors`` + ``card.json`` (+ metrics, config).

    Unzip it and use the folder like a run directory: ``imgrec predict <folder> image.jpg``.
    """
    run, folder = await run_in_threadpool(_model_run, store, run_id)
    archive = await run_in_threadpool(_zip_model, folder)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)[:60] or "model"
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"{safe}-run{run.id}.zip",
        background=BackgroundTask(archive.unlink, missing_ok=True),
    )


def _open_image(data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise HTTPException(
                    413, detail=f"{width}x{height} pixels is too large; send at most 40 megapixels"
                )
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"not an image this server can read ({exc})"
        ) from exc


def _png(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _detect(predictor: Any, image: Any, conf: float, started: float) -> dict[str, Any]:
    from imgrec.api import draw_detections

    found = predictor.predict([image], conf=conf)[0]
    if found.error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=found.error)
    return {
        "task": "detect",
        "predictions": [],
        "detections": [d.to_dict() for d in found.detections],
        "drawn_png": _png(draw_detections(image, found)),
        "time_ms": (time.perf_counter() - started) * 1000,
    }


def _segment(predictor: Any, image: Any, started: float) -> dict[str, Any]:
    """A segmenter's answer: the predicted mask over the image, each class's pixel share."""
    found = predictor.predict([image])[0]
    if found.error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=found.error)
    return {
        "task": "segment",
        "predictions": [],
        "shares": [{"label": name, "share": share} for name, share in found.shares.items()],
        "drawn_png": _png(found.overlay(image)),
        "time_ms": (time.perf_counter() - started) * 1000,
    }


def _instances(predictor: Any, image: Any, conf: float, started: float) -> dict[str, Any]:
    """An instance segmenter's answer: its objects above ``conf`` (label, score, box, mask
    size), and their masks and boxes drawn over the image."""
    found = predictor.predict([image], conf=conf)[0]
    if found.error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=found.error)
    objects = [
        {
            "label": d.label,
            "class_index": d.class_index,
            "score": round(float(d.score), 6),
            "box": [round(float(v), 2) for v in d.box],
            "mask_pixels": int(d.mask().sum()) if hasattr(d, "mask") else None,
        }
        for d in found.detections
    ]
    return {
        "task": "instance",
        "predictions": [],
        "detections": objects,
        "drawn_png": _png(found.overlay(image)),
        "time_ms": (time.perf_counter() - started) * 1000,
    }


def _predict(
    folder: Path, data: bytes, top_k: int, explain: str, conf: float = 0.25
) -> dict[str, Any]:
    started = time.perf_counter()
    image = _open_image(data)
    with _TORCH_SLOTS:
        predictor = _predictor(folder)
        task = getattr(predictor, "task", "classify")
        if task == "detect":
            return _detect(predictor, image, conf, started)
        if task == "segment":
            return _segment(predictor, image, started)
        if task == "instance":
            return _instances(predictor, image, conf, started)
        prediction = next(iter(predictor.predict([image], top_k=top_k)))
        if prediction.error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=prediction.error)
        heatmap = None
        if explain != "none":
            heatmap = _heatmap_png(predictor, image, explain)
    return {
        "predictions": [{"label": n, "probability": p} for n, p in prediction.top_k],
        "heatmap_png": heatmap,
        "time_ms": (time.perf_counter() - started) * 1000,
    }


def _heatmap_png(predictor: Any, image: Any, method: str) -> str:
    from PIL import Image

    from imgrec.api import explain_overlay

    buffer = io.BytesIO()
    Image.fromarray(explain_overlay(predictor, image, method=method)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@router.post(
    "/runs/{run_id}/predict",
    response_model=PredictionOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={400: {}, 404: {}, 413: {}, 415: {}},
)
async def predict_image(
    run_id: int,
    request: Request,
    store: StoreDep,
    top_k: Annotated[int, Query(ge=1, le=50)] = 5,
    explain: Annotated[str, Query(pattern=r"^(none|gradcam|gradcam\+\+|layercam|eigencam)$")] = (
        "none"
    ),
    conf: Annotated[float, Query(ge=0.0, le=1.0)] = 0.25,
) -> dict[str, Any]:
    """Classify one image sent as the request body (``Content-Type: image/png``, ...): the top
    classes with probabilities, and with ``explain=gradcam`` a heatmap overlay (PNG, base64).
    A detector answers with its boxes above ``conf`` and the image with them drawn; a segmenter
    with each predicted class's share of the pixels and the image with the mask drawn over it;
    an instance segmenter with its objects above ``conf`` and their masks and boxes drawn. An
    image that cannot be read is a 400 naming the problem."""
    require_raw_body(
        request, IMAGE_TYPES, "curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg' ..."
    )
    _, folder = await run_in_threadpool(_model_run, store, run_id)
    data = await read_capped(request, MAX_IMAGE_BYTES, what="image")
    if not data:
        raise HTTPException(400, detail="no image in the request body")
    try:
        return await run_in_threadpool(_predict, folder, data, top_k, explain, conf)
    except ImgrecError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc


_INSPECT_DETAILS = ("layer", "shape", "shown", "method", "source", "confused_pairs")


def _inspect(folder: Path, view: str) -> dict[str, Any]:
    from imgrec.api import inspect

    cached = folder / "inspect" / f"web-{view}.json"
    if cached.is_file():
        found: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return found
    with _TORCH_SLOTS:
        result = inspect(folder, view, device="cpu", max_images=1000)
    png = result.pop("png", None)
    answer = {
        "view": view,
        "png": base64.b64encode(Path(png).read_bytes()).decode() if png else None,
        "table": result.get("table"),
        "details": {k: v for k, v in result.items() if k in _INSPECT_DETAILS},
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(answer, default=str), encoding="utf-8")
    return answer


@router.get("/runs/{run_id}/inspect/{view}", response_model=InspectOut)
async def inspect_run(
    run_id: int, view: Literal["filters", "embedding", "summary"], store: StoreDep
) -> dict[str, Any]:
    """Look inside the run's model: its first-layer ``filters``, the ``embedding`` map of its
    test split (PCA), or the layer ``summary``. Computed once, then served from the run folder.
    """
    _, folder = await run_in_threadpool(_model_run, store, run_id)
    try:
        return await run_in_threadpool(_inspect, folder, view)
    except ImgrecError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
