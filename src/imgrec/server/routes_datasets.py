"""Datasets: upload a zip (streamed, size-capped, safely extracted), its report, thumbnails."""

from __future__ import annotations

import io
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from imgrec.server.bodies import require_raw_body, stream_to_file
from imgrec.server.deps import ConfigDep, LibraryDep
from imgrec.server.library import DatasetLibrary, UploadRefused
from imgrec.server.schemas import DatasetDetail, DatasetOut

__all__ = ["router"]

router = APIRouter(tags=["datasets"])
THUMBNAIL_PX = 128
DETECTION_THUMBNAIL_PX = 320  # boxes and their labels stay readable


def _display_name(name: str | None) -> str:
    """The uploaded file's name without folders or control characters (for display only)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:120]
    return base or "upload.zip"


UPLOAD_EXAMPLE = (
    "curl --data-binary @pets.zip -H 'Content-Type: application/zip' "
    "'http://127.0.0.1:8000/api/datasets?name=pets.zip'"
)
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ZIP_TYPES},
    }
}


@router.post(
    "/datasets",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_UPLOAD_BODY,
    responses={400: {"description": "not a zip, empty, corrupt or unsafe"}, 413: {}, 415: {}},
)
async def upload_dataset(
    request: Request, library: LibraryDep, config: ConfigDep, name: str | None = None
) -> DatasetOut:
    """Upload a zip as the request body (``Content-Type: application/zip``): class folders, a
    COCO, YOLO or VOC detection dataset, images with masks (mask folders, VOC
    ``SegmentationClass``) or COCO with masks (the task is read from the layout).

    The zip is checked and extracted before the answer (400 for not a zip, empty, corrupt,
    zip-slip or zip bomb; 413 over the size limit, counted while it streams in); the images are
    then read and validated in the background: poll ``GET /api/datasets/{id}`` until ``status``
    is not ``checking``.
    """
    require_raw_body(request, ZIP_TYPES, UPLOAD_EXAMPLE)
    dataset_id, part = library.new_upload()
    try:
        await stream_to_file(
            request, part, config.max_upload_bytes, what="upload", setting="IMGREC_MAX_UPLOAD_MB"
        )
        meta = await run_in_threadpool(library.accept, dataset_id, part, name=_display_name(name))
    except UploadRefused as exc:
        raise HTTPException(exc.status, detail=str(exc)) from exc
    finally:
        part.unlink(missing_ok=True)
    library.check_in_background(dataset_id)
    return DatasetOut.model_validate(meta)


@router.get("/datasets")
def list_datasets(library: LibraryDep) -> list[DatasetOut]:
    return [DatasetOut.model_validate(m) for m in library.list()]


def _meta(library: DatasetLibrary, dataset_id: str) -> dict[str, Any]:
    try:
        return library.meta(dataset_id)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dataset '{dataset_id}'") from exc


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, library: LibraryDep) -> DatasetDetail:
    """The upload's state and, once checked, its validation report and sample indices.

    A detection dataset's report (``task: detect``) holds images and instances per class and
    split, COCO box-size bands per class, the images without objects and every problem with
    its file and line or key; ``sample_images`` gives each sample's true boxes. A segmentation
    dataset's (``task: segment``) holds pixel shares and images per class and split, ignored
    pixels, empty masks and every problem with its file, outcome and advice; its samples'
    thumbnails show their true masks, as do an instance dataset's (``task: instance``).
    """
    meta = _meta(library, dataset_id)
    samples = {c: list(range(len(p))) for c, p in library.samples(dataset_id).items()}
    return DatasetDetail(
        **meta,
        report=library.report(dataset_id),
        samples=samples,
        sample_images=library.sample_images(dataset_id),
    )


def _thumbnail(path: Any, size: int = THUMBNAIL_PX) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        rgb = img.convert("RGB")
        rgb.thumbnail((size, size))
        buffer = io.BytesIO()
        rgb.save(buffer, format="PNG")
        return buffer.getvalue()


@router.get(
    "/datasets/{dataset_id}/samples/{class_index}/{k}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def sample_thumbnail(dataset_id: str, class_index: int, k: int, library: LibraryDep) -> Response:
    """A small PNG of the k-th sample of a class (by index: no path comes from the request);
    larger for a detection dataset, whose page draws the boxes over it, and drawn with its true
    masks for a segmentation or instance dataset."""
    meta = _meta(library, dataset_id)
    try:
        path = library.sample_path(dataset_id, class_index, k)
        overlay = library.sample_overlay(dataset_id, class_index, k)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such sample") from exc
    large = meta.get("task") in ("detect", "segment", "instance")
    try:
        data = (
            overlay.read_bytes()
            if overlay
            else _thumbnail(path, DETECTION_THUMBNAIL_PX if large else THUMBNAIL_PX)
        )
    except OSError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="sample unreadable") from exc
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
