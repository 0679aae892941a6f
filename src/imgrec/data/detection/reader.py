"""Find a detection dataset's layout and read it (folder or zip).

The layouts are the ``detect`` readers of the format registry (:mod:`imgrec.data.formats`;
COCO, YOLO and VOC are built in), probed highest priority first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from imgrec.data.detection._common import assign_splits
from imgrec.data.detection.model import DetectionDataset
from imgrec.data.formats import FormatReader, ReadContext, describe_formats, find_format
from imgrec.data.zipcache import extract_cached
from imgrec.errors import DatasetError

__all__ = ["detect_layout", "read_detection"]

_TASK = "detect"


def detect_layout(folder: Path) -> str | None:
    """The name of the detection layout ``folder`` holds (``"coco"``, ``"yolo"``, ``"voc"``, or
    a registered reader's), else ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = _find_root(folder)  # inside a wrapper folder too, as read_detection reads it
    return found[1].name if found is not None else None


def _find_root(folder: Path) -> tuple[Path, FormatReader[object]] | None:
    reader = find_format(folder, task=_TASK)
    if reader is not None:
        return folder, reader
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subdirs) == 1:  # a zip of the dataset's folder, or a folder around it
        reader = find_format(subdirs[0], task=_TASK)
        if reader is not None:
            return subdirs[0], reader
    return None


def read_detection(
    path: Path,
    *,
    work_dir: Path,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> DetectionDataset:
    """Read a detection dataset (COCO, YOLO, VOC...) from a folder or a ``.zip``; the user's files
    are only read.

    A zip is extracted once into ``work_dir/<name>-<content hash>`` and that folder is reused
    while the zip is unchanged (:func:`~imgrec.data.zipcache.extract_cached`); give a stable
    ``work_dir`` to benefit. The dataset's own splits are kept; a dataset without any is split per
    image, stratified by each image's most frequent class.

    Raises:
        DatasetError: no layout matches (the message names the path and the known formats),
            or a YOLO ``data.yaml`` is malformed or has no class names.
    """
    source = Path(path)
    folder = source
    if source.is_file() and source.suffix.lower() == ".zip":
        folder, _reused = extract_cached(source, Path(work_dir))
    if not folder.is_dir():
        raise DatasetError(f"{source}: not a folder or a .zip file; give a dataset folder or zip")
    found = _find_root(folder)
    if found is None:
        raise DatasetError(
            f"{source}: no detection dataset found; known formats: {describe_formats(_TASK)}"
        )
    root, reader = found
    ds = reader.read(root, ReadContext(source=source, work_dir=Path(work_dir)))
    if not isinstance(ds, DetectionDataset):
        raise TypeError(f"format reader '{reader.name}' returned {type(ds).__name__}")
    if all(img.split is None for img in ds.images):
        ds = replace(
            ds,
            images=assign_splits(
                ds.images, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed
            ),
        )
    return ds
