"""The in-memory form of an object-detection dataset, whatever layout it was read from.

Boxes are ``float32 (N, 4)`` ``(x0, y0, x1, y1)`` in continuous pixel coordinates (pixel
``(r, c)`` covers ``[c, c + 1) x [r, r + 1)``; ``x1``/``y1`` are exclusive, like COCO's
``x + w``). Labels are 0-based indices into ``classes``; there is no background class.
``iscrowd`` marks boxes that evaluation ignores (COCO ``iscrowd``, VOC ``difficult``).
``segmentations`` holds instance masks as COCO gives them (polygons or RLE, see
:mod:`imgrec.data.detection.masks`): empty when the image has none, else one per box.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imgrec.data.manifest import SPLITS, Split

__all__ = ["LAYOUTS", "DetectionDataset", "DetectionImage", "DetectionProblem", "Layout"]

Layout = Literal["coco", "yolo", "voc"]
Outcome = Literal["clipped", "dropped", "skipped", "error"]
LAYOUTS: tuple[Layout, ...] = ("coco", "yolo", "voc")


@dataclass(frozen=True, eq=False)
class DetectionImage:
    """One image and its boxes ``(N, 4)``, labels ``(N,)`` and crowd flags ``(N,)``.

    ``segmentations`` is ``()`` when none of the image's boxes has a mask, else one entry per
    box: ``None`` (no usable mask) or the COCO segmentation as read, polygons
    ``[[x0, y0, ...], ...]`` or RLE ``{"size": [h, w], "counts": str | list[int]}``
    (:func:`~imgrec.data.detection.masks.decode_segmentation` gives the pixels).
    """

    path: Path
    key: str
    image_id: int
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray
    split: Split | None = None
    segmentations: tuple[Any, ...] = ()

    @property
    def mask_flags(self) -> np.ndarray:
        """``(N,)`` bool: which boxes have a usable mask (all False in a set without masks)."""
        flags = np.zeros(len(self.labels), dtype=bool)
        if self.segmentations:
            flags[:] = [s is not None for s in self.segmentations]
        return flags


@dataclass(frozen=True)
class DetectionProblem:
    """Something wrong in the user's files and what the reader did about it.

    ``message`` says what was wrong and ends with the outcome (``"— line dropped"``).
    """

    file: str
    where: str | None
    message: str
    outcome: Outcome

    def __str__(self) -> str:
        place = f"{self.file} {self.where}" if self.where else self.file
        return f"{place}: {self.message}"


@dataclass
class DetectionDataset:
    """A detection dataset read from ``source`` (a folder or zip) rooted at ``root``."""

    root: Path
    source: Path
    layout: Layout
    classes: list[str]
    images: list[DetectionImage]
    problems: list[DetectionProblem] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)

    @property
    def has_masks(self) -> bool:
        """Whether any box of any image has a usable instance mask."""
        return any(img.mask_flags.any() for img in self.images)

    def by_split(self, split: Split | None) -> list[DetectionImage]:
        """The images of ``split`` (``None``: those without a split)."""
        return [img for img in self.images if img.split == split]

    def splits(self) -> list[Split | None]:
        """Splits present, in train/val/test order (``None`` last)."""
        present = {img.split for img in self.images}
        ordered: list[Split | None] = [s for s in SPLITS if s in present]
        return ordered + ([None] if None in present else [])

    def counts(self) -> dict[str, Any]:
        """``{"images": {split: n}, "instances": {split: {class: n}}, "total_*": n}``."""
        images: dict[str, int] = {}
        instances: dict[str, dict[str, int]] = {}
        for split in self.splits():
            name = split or "unsplit"
            imgs = self.by_split(split)
            per = Counter(int(v) for img in imgs for v in img.labels)
            images[name] = len(imgs)
            instances[name] = {c: per.get(i, 0) for i, c in enumerate(self.classes)}
        return {
            "images": images,
            "instances": instances,
            "total_images": len(self.images),
            "total_instances": sum(len(img.labels) for img in self.images),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of everything read (boxes as lists of floats; an image's
        ``segmentations`` as read, only where it has some)."""
        return {
            "root": str(self.root),
            "source": str(self.source),
            "layout": self.layout,
            "classes": list(self.classes),
            "category_ids": list(self.category_ids),
            "images": [_image_dict(img) for img in self.images],
            "problems": [
                {"file": p.file, "where": p.where, "outcome": p.outcome, "text": str(p)}
                for p in self.problems
            ],
        }


def _image_dict(img: DetectionImage) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": img.key,
        "image_id": img.image_id,
        "width": img.width,
        "height": img.height,
        "split": img.split,
        "boxes": img.boxes.astype(float).tolist(),
        "labels": img.labels.tolist(),
        "iscrowd": img.iscrowd.tolist(),
    }
    if img.segmentations:
        entry["segmentations"] = list(img.segmentations)
    return entry
