"""Datasets uploaded through the web: stored, safely extracted, checked in the background.

Each upload gets a random 12-hex id and a folder ``<uploads>/<id>/`` holding ``upload.zip`` (the
bytes as sent), ``meta.json`` (state, task and summary), ``report.json`` (the validation report),
``samples.json`` (the extracted folder and a few image paths per class in it, for the
thumbnails, with their boxes for a detection dataset; read once per dataset, it never changes)
and for a segmentation or instance dataset ``overlays/<n>.png``, the samples with their masks.
A request only ever names an id, which must match ``[0-9a-f]{12}``; paths come from these files,
never from the request.

The zip is extracted during the upload request (so a zip-slip, a bomb or a corrupt file is refused
with a clear 400 at once), once per content, where training finds it again; reading and checking
every image runs in a background thread, by the readers of the task the layout belongs to
(:mod:`imgrec.server.dataset_checks`).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imgrec._files import atomic_write_text
from imgrec.errors import DatasetError
from imgrec.server.dataset_checks import Checked, check_classification, check_detection
from imgrec.server.mask_checks import check_segmentation

__all__ = ["DATASET_ID", "SAMPLES_PER_CLASS", "DatasetLibrary", "UploadRefused"]

DATASET_ID = re.compile(r"^[0-9a-f]{12}$")
SAMPLES_PER_CLASS = 8
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OVERLAY_NAME = re.compile(r"^[0-9]{1,6}\.png$")


class UploadRefused(Exception):  # noqa: N818  # mapped to an HTTP status by the route
    """An upload that is not accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DatasetLibrary:
    """The uploaded datasets under ``root``; zips extract into ``settings_home/datasets``."""

    def __init__(self, root: Path, *, settings_home: Path) -> None:
        self.root = Path(root)
        self.extract_root = Path(settings_home) / "datasets"
        self._lock = threading.Lock()
        self._extracting = threading.Lock()
        # dataset id -> (extracted root, sample paths per class, sample boxes per class)
        self._samples_cache: dict[str, tuple[Path, dict[str, list[str]], dict[str, Any]]] = {}
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-check")

    # ---------------------------------------------------------------- reading

    def folder(self, dataset_id: str) -> Path:
        """The folder of ``dataset_id``; KeyError when the id is malformed or unknown."""
        if not DATASET_ID.match(dataset_id):
            raise KeyError(dataset_id)
        folder = self.root / dataset_id
        if not (folder / "meta.json").is_file():
            raise KeyError(dataset_id)
        return folder

    def meta(self, dataset_id: str) -> dict[str, Any]:
        return _read_json(self.folder(dataset_id) / "meta.json")

    def report(self, dataset_id: str) -> dict[str, Any] | None:
        path = self.folder(dataset_id) / "report.json"
        return _read_json(path) if path.is_file() else None

    def samples(self, dataset_id: str) -> dict[str, list[str]]:
        """A few image paths per class (relative to the extracted folder); empty until checked."""
        return self._thumbnails(dataset_id)[1]

    def sample_images(self, dataset_id: str) -> dict[str, list[dict[str, Any]]]:
        """Detection: each sample's file, split, size and boxes, per class; else empty."""
        return self._thumbnails(dataset_id)[2]

    def _thumbnails(
        self, dataset_id: str
    ) -> tuple[Path | None, dict[str, list[str]], dict[str, Any]]:
        path = self.folder(dataset_id) / "samples.json"
        if not path.is_file():
            return None, {}, {}
        found = self._samples_cache.get(dataset_id)
        if found is None:
            data = _read_json(path)
            root = Path(data["root"]).resolve()
            found = (root, data["paths"], data.get("images", {}))
            self._samples_cache[dataset_id] = found
        return found

    def list(self) -> list[dict[str, Any]]:
        """Every upload, newest first."""
        if not self.root.is_dir():
            return []
        metas = []
        for folder in self.root.iterdir():
            if DATASET_ID.match(folder.name) and (folder / "meta.json").is_file():
                metas.append(_read_json(folder / "meta.json"))
        return sorted(metas, key=lambda m: str(m["created_at"]), reverse=True)

    def archive(self, dataset_id: str) -> Path:
        return self.folder(dataset_id) / "upload.zip"

    def sample_path(self, dataset_id: str, class_index: int, k: int) -> Path:
        """The k-th sample image of a class, checked to lie inside the dataset's extraction."""
        root, samples, _ = self._thumbnails(dataset_id)
        classes = list(samples)  # in the dataset's class order
        if root is None or not 0 <= class_index < len(classes):
            raise KeyError(class_index)
        paths = samples[classes[class_index]]
        if not 0 <= k < len(paths):
            raise KeyError(k)
        path = (root / paths[k]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise KeyError(k)
        return path

    def sample_overlay(self, dataset_id: str, class_index: int, k: int) -> Path | None:
        """The k-th sample of a class drawn with its true masks (segmentation and instance
        datasets), or None when it has none; KeyError for a sample that does not exist."""
        self.sample_path(dataset_id, class_index, k)
        images = self.sample_images(dataset_id)
        name = list(images.values())[class_index][k].get("overlay") if images else None
        if not isinstance(name, str) or not _OVERLAY_NAME.match(name):
            return None
        path = self.folder(dataset_id) / "overlays" / name
        return path if path.is_file() else None

    # ---------------------------------------------------------------- writing

    def new_upload(self) -> tuple[str, Path]:
        """A fresh id and the hidden part file the upload streams into."""
        self.root.mkdir(parents=True, exist_ok=True)
        dataset_id = secrets.token_hex(6)
        return dataset_id, self.root / f".{dataset_id}.part"

    def accept(self, dataset_id: str, part: Path, *, name: str) -> dict[str, Any]:
        """Check the streamed file is a safe zip of images, extract it, and record it.

        Raises:
            UploadRefused: not a zip, no images in it, unsafe or corrupt (the part file and any
                partial extraction are removed).
        """
        try:
            _check_zip(part, name)
            folder = self.root / dataset_id
            folder.mkdir(parents=True)
            archive = folder / "upload.zip"
            part.rename(archive)
            try:
                from imgrec.api import extract_archive

                with self._extracting:
                    extract_archive(archive, self.extract_root)
            except DatasetError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise UploadRefused(self._scrub(str(exc), name)) from exc
        finally:
            part.unlink(missing_ok=True)
        meta: dict[str, Any] = {
            "id": dataset_id,
            "name": name,
            "status": "checking",
            "error": None,
            "size_bytes": archive.stat().st_size,
            "created_at": datetime.now(UTC).isoformat(),
            "task": None,
            "tasks": [],
            "layout": None,
            "num_images": None,
            "num_classes": None,
            "classes": [],
            "usable": None,
        }
        self._write_meta(dataset_id, meta)
        return meta

    def check(self, dataset_id: str) -> dict[str, Any]:
        """Read and validate every image (slow; run in a thread); returns the final meta."""
        meta = self.meta(dataset_id)
        folder = self.folder(dataset_id)
        try:
            checked = self._read(folder, meta["name"])
        except Exception as exc:  # any failure is shown on the dataset's page
            meta.update(status="failed", error=self._scrub(str(exc), meta["name"]))
            self._write_meta(dataset_id, meta)
            return meta
        _write_json(folder / "report.json", checked.report)
        samples = {"root": str(checked.root), "paths": checked.paths, "images": checked.images}
        _write_json(folder / "samples.json", samples)
        meta.update(status="ready", **checked.meta)
        self._write_meta(dataset_id, meta)
        return meta

    def _read(self, folder: Path, name: str) -> Checked:
        """The check of the task whose layout the upload has, the richest annotation first (a
        COCO set with masks is checked as instance segmentation, and may train all three; one
        whose masks cannot be read as detection)."""
        from imgrec.api import dataset_tasks, extract_archive

        def scrub(message: str) -> str:
            return self._scrub(message, name)

        archive = folder / "upload.zip"
        with self._extracting:  # extracted at upload: this finds the folder again
            extracted = extract_archive(archive, self.extract_root)
        tasks = dataset_tasks(extracted)
        shared: dict[str, Any] = {"name": name, "per_class": SAMPLES_PER_CLASS, "scrub": scrub}
        overlays = folder / "overlays"
        if tasks[0] == "instance":
            checked = check_detection(
                extracted, task="instance", tasks=tasks, overlays=overlays, **shared
            )
            if checked.meta["usable"]:
                return checked
            # no masks read after all (annotations that do not parse look like masks): the
            # boxes, if any, make it a detection set
            shutil.rmtree(overlays, ignore_errors=True)
            tasks = [t for t in tasks if t not in ("instance", "segment")] or ["detect"]
        if tasks[0] == "detect":
            return check_detection(extracted, task="detect", tasks=tasks, **shared)
        if tasks[0] == "segment":
            return check_segmentation(extracted, tasks=tasks, overlays=overlays, **shared)
        return check_classification(archive, extract_root=self.extract_root, **shared)

    def resume_checks(self) -> None:
        """Check again the uploads a stopped server left half-checked."""
        for meta in self.list():
            if meta["status"] == "checking":
                self.check_in_background(str(meta["id"]))

    def check_in_background(self, dataset_id: str) -> Future[dict[str, Any]]:
        """Queue :meth:`check` (one at a time: reading images is CPU-bound); answers at once."""
        return self._checks.submit(self.check, dataset_id)

    def close(self) -> None:
        """Stop taking checks; the one running finishes (a restart checks the queued again)."""
        self._checks.shutdown(wait=False, cancel_futures=True)

    def _scrub(self, message: str, name: str) -> str:
        """A message for the client: the server's folders replaced by what the user knows."""
        message = message.replace(str(self.root.resolve()), "uploads").replace(
            str(self.root), "uploads"
        )
        message = re.sub(r"uploads/[0-9a-f]{12}/upload\.zip", name, message)
        return message.replace(str(self.extract_root), "IMGREC_HOME/datasets")

    def _write_meta(self, dataset_id: str, meta: dict[str, Any]) -> None:
        with self._lock:
            _write_json(self.root / dataset_id / "meta.json", meta)


def _check_zip(part: Path, name: str) -> None:
    with part.open("rb") as fh:
        head = fh.read(4)
    if head not in _ZIP_MAGIC:
        raise UploadRefused(
            f"{name}: not a zip file; upload a .zip of class folders (e.g. cats/1.jpg, dogs/2.jpg),"
            " of a COCO, YOLO or VOC detection dataset, or of images with masks."
        )
    from imgrec.api import is_metadata_name

    try:
        with zipfile.ZipFile(part) as zf:
            files = [
                i
                for i in zf.infolist()
                if not i.is_dir() and not any(is_metadata_name(p) for p in i.filename.split("/"))
            ]
    except zipfile.BadZipFile as exc:
        raise UploadRefused(f"{name}: the zip file is corrupt ({exc}); re-create it.") from exc
    if not files:
        raise UploadRefused(
            f"{name}: the zip is empty; put one folder per class with the images inside."
        )


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str))
