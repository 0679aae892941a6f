"""Find a detection dataset's layout and read it (folder or zip)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from imgrec.data.archive import extract_zip
from imgrec.data.detection._common import assign_splits
from imgrec.data.detection.coco import coco_files, read_coco
from imgrec.data.detection.model import LAYOUTS, DetectionDataset, Layout
from imgrec.data.detection.voc import read_voc
from imgrec.data.detection.yolo import YAML_NAMES, read_yolo
from imgrec.errors import DatasetError

READERS: dict[Layout, Callable[[Path, Path], DetectionDataset]] = {
    "coco": read_coco,
    "yolo": read_yolo,
    "voc": read_voc,
}


def detect_layout(folder: Path) -> Layout | None:
    """``"coco"``, ``"yolo"`` or ``"voc"`` from the files ``folder`` holds, else ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if coco_files(folder):
        return "coco"
    if any((folder / n).is_file() for n in YAML_NAMES):
        return "yolo"
    if (folder / "Annotations").is_dir() and any((folder / "Annotations").glob("*.xml")):
        return "voc"
    return None


def _find_root(folder: Path) -> tuple[Path, Layout] | None:
    layout = detect_layout(folder)
    if layout is not None:
        return folder, layout
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subdirs) == 1:  # a zip of the dataset's folder, or a folder around it
        layout = detect_layout(subdirs[0])
        if layout is not None:
            return subdirs[0], layout
    return None


def read_detection(
    path: Path,
    *,
    work_dir: Path,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
) -> DetectionDataset:
    """Read a COCO, YOLO or VOC dataset from a folder or a ``.zip``; the user's files are only read.

    A zip is extracted into a fresh subfolder of ``work_dir``. The dataset's own splits are kept;
    a dataset without any is split per image, stratified by each image's most frequent class.

    Raises:
        DatasetError: no layout matches (the message names the path and the layouts expected),
            or a YOLO ``data.yaml`` is malformed or has no class names.
    """
    source = Path(path)
    folder = source
    if source.is_file() and source.suffix.lower() == ".zip":
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix=f"{source.stem}-", dir=work_dir))
        folder = extract_zip(source, target)
    if not folder.is_dir():
        raise DatasetError(f"{source}: not a folder or a .zip file; give a dataset folder or zip")
    found = _find_root(folder)
    if found is None:
        raise DatasetError(
            f"{source}: no detection dataset found; expected one of {list(LAYOUTS)}: COCO"
            " (annotations/instances_*.json, or a *.json beside images/), YOLO (data.yaml with"
            " images/ and labels/) or VOC (Annotations/*.xml with JPEGImages/)"
        )
    root, layout = found
    ds = READERS[layout](root, source)
    if all(img.split is None for img in ds.images):
        ds = replace(
            ds,
            images=assign_splits(
                ds.images, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed
            ),
        )
    return ds
