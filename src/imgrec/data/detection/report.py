"""The validation report of a detection dataset: counts, box sizes, problems (text and JSON)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from imgrec.data.detection.model import DetectionDataset

__all__ = ["detection_report", "render_report_text"]

# COCO's area ranges: small < 32², medium < 96², large otherwise.
_SMALL, _LARGE = 32**2, 96**2


def _size_band(area: float) -> str:
    return "small" if area < _SMALL else "medium" if area < _LARGE else "large"


def detection_report(ds: DetectionDataset) -> dict[str, Any]:
    """Images and instances per class and split, COCO box-size bands, images without objects,
    and every problem with its file, place and outcome."""
    sizes: dict[str, Counter[str]] = {}
    empty = 0
    for img in ds.images:
        if len(img.labels) == 0:
            empty += 1
        wh = np.clip(img.boxes[:, 2:] - img.boxes[:, :2], 0, None) if len(img.boxes) else []
        for (w, h), label in zip(wh, img.labels, strict=True):
            band = sizes.setdefault(ds.classes[int(label)], Counter())
            band[_size_band(float(w * h))] += 1
    outcomes = Counter(p.outcome for p in ds.problems)
    with_mask = sum(int(img.mask_flags.sum()) for img in ds.images)
    return {
        "layout": ds.layout,
        "source": str(ds.source),
        "classes": list(ds.classes),
        "counts": ds.counts(),
        "box_sizes": {c: dict(sizes.get(c, Counter())) for c in ds.classes},
        "images_without_objects": empty,
        "masks": {
            "objects_with_mask": with_mask,
            "objects_without_mask": ds.counts()["total_instances"] - with_mask,
        },
        "problems": [
            {"file": p.file, "where": p.where, "outcome": p.outcome, "text": str(p)}
            for p in ds.problems
        ],
        "problem_counts": dict(outcomes),
    }


def render_report_text(ds: DetectionDataset, *, max_problems: int = 30) -> str:
    """The report as a person reads it in a terminal."""
    report = detection_report(ds)
    counts = report["counts"]
    lines = [
        f"{ds.layout.upper()} detection dataset at {ds.source}: {counts['total_images']} images, "
        f"{counts['total_instances']} objects, {len(ds.classes)} classes",
        "images per split: " + ", ".join(f"{split} {n}" for split, n in counts["images"].items()),
        f"{'class':<20} "
        + " ".join(f"{s:>8}" for s in counts["instances"])
        + "   small/medium/large",
    ]
    for name in ds.classes:
        per = " ".join(f"{counts['instances'][s].get(name, 0):>8}" for s in counts["instances"])
        band = report["box_sizes"][name]
        lines.append(
            f"{name[:20]:<20} {per}   "
            f"{band.get('small', 0)}/{band.get('medium', 0)}/{band.get('large', 0)}"
        )
    masks = report["masks"]
    if masks["objects_with_mask"]:  # instance masks: what --task instance trains on
        lines.append(
            f"objects with a mask: {masks['objects_with_mask']}, without: "
            f"{masks['objects_without_mask']} (--task instance leaves those out)"
        )
    if report["images_without_objects"]:
        lines.append(f"images without objects: {report['images_without_objects']}")
    if ds.problems:
        lines.append(f"problems ({len(ds.problems)}; nothing in your files was changed):")
        lines += [f"  {p}" for p in ds.problems[:max_problems]]
        if len(ds.problems) > max_problems:
            lines.append(f"  ... and {len(ds.problems) - max_problems} more (see --json)")
    return "\n".join(lines)
