"""What the page of a segmentation dataset (``task: segment``) shows, from its stored report.

The report is ``imgrec data check --task segment``'s: per split the images showing each class
and each class's share of the labelled pixels, ignored pixels, empty masks, and every problem
with its file, what was done and what to do. The page draws the pixel shares and the images per
class (``static/dataset_segment.js``), tabulates both per split, and shows sample images with
their true masks drawn in, in the class colours of the legend and the charts.
"""

from __future__ import annotations

from typing import Any

from imgrec.server.render import PALETTE
from imgrec.server.schemas import DatasetDetail

__all__ = ["MAX_PROBLEMS_SHOWN", "SPLITS", "segmentation_context"]

SPLITS = ("train", "val", "test")
MAX_PROBLEMS_SHOWN = 500  # the JSON API has them all


def _ordered(splits: list[str]) -> list[str]:
    return [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]


def _class_rows(report: dict[str, Any], splits: list[str]) -> list[dict[str, Any]]:
    """Per class: images showing it and its pixel share, per split and in all."""
    counts = report.get("counts", {})
    showing: dict[str, dict[str, int]] = counts.get("images_with_class", {})
    shares: dict[str, dict[str, float]] = report.get("pixel_share", {})
    total: dict[str, float] = report.get("pixel_share_total", {})
    empty = set(report.get("classes_without_pixels", []))
    return [
        {
            "name": name,
            "colour": PALETTE[i % len(PALETTE)],
            "images": {s: showing.get(s, {}).get(name, 0) for s in splits},
            "shares": {s: shares.get(s, {}).get(name, 0.0) for s in splits},
            "images_total": sum(showing.get(s, {}).get(name, 0) for s in splits),
            "share_total": total.get(name, 0.0),
            "without_pixels": name in empty,
        }
        for i, name in enumerate(report.get("classes", []))
    ]


def _samples(detail: DatasetDetail) -> dict[str, list[dict[str, Any]]]:
    """Per class, each sample's file, split, share of that class and the classes it shows."""
    return {
        name: [
            {
                "file": s.file,
                "split": s.split,
                "masks": bool(s.overlay),
                "share": s.share,
                "shows": s.shows,
            }
            for s in samples
        ]
        for name, samples in detail.sample_images.items()
    }


def segmentation_context(detail: DatasetDetail, report: dict[str, Any]) -> dict[str, Any]:
    """The template's variables (``seg_*``, ``problems``, ``colours``) and the charts' data."""
    splits = _ordered(list(report.get("counts", {}).get("images", {})))
    rows = _class_rows(report, splits)
    problems = report.get("problems", [])
    colours = {row["name"]: row["colour"] for row in rows}
    chart = {
        "classes": [row["name"] for row in rows],
        "colours": [row["colour"] for row in rows],
        "splits": splits,
        "pixel_share": {s: [row["shares"][s] for row in rows] for s in splits},
        "images_with_class": {s: [row["images"][s] for row in rows] for s in splits},
    }
    return {
        "seg_splits": splits,
        "seg_rows": rows,
        "seg_samples": _samples(detail),
        "problems": problems[:MAX_PROBLEMS_SHOWN],
        "problems_hidden": max(0, len(problems) - MAX_PROBLEMS_SHOWN),
        "colours": colours,
        "chart": chart,
    }
