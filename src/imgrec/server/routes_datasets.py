"""Datasets: upload a zip (streamed, size-capped, safely extracted), its report, thumbnails."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from imgrec.server.deps import ConfigDep, LibraryDep
from imgrec.server.library import DatasetLibrary, UploadRefused
from imgrec.server.schemas import DatasetDetail, DatasetOut

__all__ = ["router"]

router = APIRouter(tags=["datasets"])
THUMBNAIL_PX = 128
_CHUNK = 1024 * 1024


def _display_name(name: str | None) -> str:
    """The uploaded file's name without folders or control characters (for display only)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:120]
    return base or "upload.zip"


def _too_big(limit: int) -> HTTPException:
    return HTTPException(
        413,
        detail=f"the upload is larger than this server's limit of {limit / 1024**2:.0f} MiB; "
        "upload a smaller zip or raise IMGREC_MAX_UPLOAD_MB.",
    )


async def _stream_to(request: Request, part: Path, limit: int) -> str | None:
    """Write the body (raw zip, or the multipart field 'file') to ``part``; its file name."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_big(limit)
    written = 0
    content_type = request.headers.get("content-type", "")
    with part.open("wb") as out:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=4)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(400, detail="multipart upload without a 'file' field")
            while chunk := await upload.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise _too_big(limit)
                out.write(chunk)
            return upload.filename
        async for chunk in request.stream():
            written += len(chunk)
            if written > limit:
                raise _too_big(limit)
            out.write(chunk)
    return None


@router.post("/datasets", status_code=status.HTTP_202_ACCEPTED)
async def upload_dataset(
    request: Request, library: LibraryDep, config: ConfigDep, name: str | None = None
) -> DatasetOut:
    """Upload a zip of class folders (the raw body, or multipart field ``file``).

    The zip is checked and extracted before the answer (400 for not a zip, empty, corrupt,
    zip-slip or zip bomb; 413 over the size limit); the images are then read and validated in
    the background: poll ``GET /api/datasets/{id}`` until ``status`` is not ``checking``.
    """
    dataset_id, part = library.new_upload()
    try:
        filename = await _stream_to(request, part, config.max_upload_bytes)
        meta = await run_in_threadpool(
            library.accept, dataset_id, part, name=_display_name(name or filename)
        )
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
    """The upload's state and, once checked, its validation report and sample indices."""
    meta = _meta(library, dataset_id)
    samples = {c: list(range(len(p))) for c, p in library.samples(dataset_id).items()}
    return DatasetDetail(**meta, report=library.report(dataset_id), samples=samples)


def _thumbnail(path: Any) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
        rgb = img.convert("RGB")
        rgb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        buffer = io.BytesIO()
        rgb.save(buffer, format="PNG")
        return buffer.getvalue()


@router.get("/datasets/{dataset_id}/samples/{class_index}/{k}.png")
async def sample_thumbnail(
    dataset_id: str, class_index: int, k: int, library: LibraryDep
) -> Response:
    """A small PNG of the k-th sample of a class (by index: no path comes from the request)."""
    _meta(library, dataset_id)
    try:
        path = library.sample_path(dataset_id, class_index, k)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such sample") from exc
    try:
        data = await run_in_threadpool(_thumbnail, path)
    except OSError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="sample unreadable") from exc
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
