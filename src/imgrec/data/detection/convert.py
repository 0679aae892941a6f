"""Convert a detection dataset between the COCO, YOLO and VOC layouts, keeping what each can hold.

What is read is what is written: classes (in order where the target keeps an order), splits,
boxes, labels and crowd flags (COCO ``iscrowd``, VOC ``difficult``; YOLO has none, see
``drop_crowd``). COCO output keeps the image ids, category ids and instance masks read; YOLO and
VOC cannot hold masks, which are left out with a warning. A source without splits
is split by :func:`read_detection` first. Problems in the source are handled as when reading it
(clipped, dropped, skipped); the source is never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from imgrec.data.detection.coco import write_coco
from imgrec.data.detection.model import LAYOUTS, DetectionDataset, Layout
from imgrec.data.detection.reader import read_detection
from imgrec.data.detection.voc import write_voc
from imgrec.data.detection.yolo import write_yolo
from imgrec.errors import DatasetError

__all__ = ["convert_detection"]


def convert_detection(
    src: Path, to: Layout, out: Path, *, work_dir: Path, drop_crowd: bool = False
) -> Path:
    """Read ``src`` (a folder or ``.zip`` in any layout) and write it to ``out`` in layout ``to``.

    Args:
        src: the dataset folder or zip.
        to: ``"coco"``, ``"yolo"`` or ``"voc"``.
        out: a new or empty folder.
        work_dir: where a zip is extracted.
        drop_crowd: leave crowd boxes out of a YOLO output instead of refusing.

    Raises:
        DatasetError: unknown ``to``, ``out`` not an empty folder (checked before reading), no
            dataset at ``src``, or crowd boxes bound for YOLO without ``drop_crowd``.

    Warns:
        UserWarning: ``src`` has instance masks and ``to`` (YOLO, VOC) cannot hold them.
    """
    writers: dict[str, Callable[[DetectionDataset, Path], Path]] = {
        "coco": write_coco,
        "yolo": lambda ds, path: write_yolo(ds, path, drop_crowd=drop_crowd),
        "voc": write_voc,
    }
    if to not in writers:
        raise DatasetError(f"unknown layout {to!r}; choose one of {list(LAYOUTS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            f"{out}: already exists and is not an empty folder; refusing to write into it,"
            " choose a new or empty output folder"
        )
    ds = read_detection(Path(src), work_dir=work_dir)
    if to != "coco" and ds.has_masks:
        warnings.warn(
            f"{src}: the instance masks are not written ({to.upper()} holds boxes only);"
            " convert to coco to keep them",
            UserWarning,
            stacklevel=2,
        )
    return writers[to](ds, out)
