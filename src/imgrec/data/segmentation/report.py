"""The validation report of a segmentation dataset: images and pixel shares per class and split,
empty masks, notes and every problem with its file, outcome and advice (text and JSON)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from imgrec.data.segmentation.model import SegmentationDataset, problem_dict

__all__ = ["render_segmentation_report", "segmentation_report"]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def segmentation_report(ds: SegmentationDataset) -> dict[str, Any]:
    """What was read and what was wrong, JSON-ready.

    ``pixel_share[split][class]`` is the class's fraction of the split's labelled (not ignored)
    pixels; ``images_with_class`` counts images showing at least one pixel of it. Problems are
    listed with ``kind``, ``outcome`` (``kept``/``excluded``/``skipped``) and ``advice``.
    """
    counts = ds.counts()
    shares = {}
    for split, per in counts["pixels"].items():
        labelled = sum(per.values())
        shares[split] = {c: _share(n, labelled) for c, n in per.items()}
    labelled_all = {c: sum(counts["pixels"][s][c] for s in counts["pixels"]) for c in ds.classes}
    total = sum(labelled_all.values())
    ignored = sum(counts["ignored_pixels"].values())
    kinds = Counter(p.kind for p in ds.problems)
    return {
        "layout": ds.layout,
        "source": str(ds.source),
        "classes": list(ds.classes),
        "ignore_index": ds.ignore_index,
        "binary_255": ds.binary_255,
        "counts": counts,
        "pixel_share": shares,
        "pixel_share_total": {c: _share(n, total) for c, n in labelled_all.items()},
        "ignored_share": _share(ignored, total + ignored),
        "classes_without_pixels": [c for c, n in labelled_all.items() if n == 0],
        "empty_masks": kinds.get("empty-mask", 0),
        "excluded_images": sum(p.outcome == "excluded" for p in ds.problems),
        "notes": list(ds.notes),
        "problems": [problem_dict(p) for p in ds.problems],
        "problem_counts": dict(Counter(p.outcome for p in ds.problems)),
        "problem_kinds": dict(kinds),
    }


def render_segmentation_report(ds: SegmentationDataset, *, max_problems: int = 30) -> str:
    """The report as a person reads it in a terminal."""
    report = segmentation_report(ds)
    counts = report["counts"]
    splits = list(counts["images"])
    lines = [
        f"{ds.layout} segmentation dataset at {ds.source}: {counts['total_images']} images, "
        f"{len(ds.classes)} classes, ignore index {ds.ignore_index}",
        "images per split: " + ", ".join(f"{s} {n}" for s, n in counts["images"].items()),
        f"{'class':<20} " + " ".join(f"{s + ' img':>10} {'px %':>6}" for s in splits),
    ]
    for name in ds.classes:
        cells = " ".join(
            f"{counts['images_with_class'][s][name]:>10} "
            f"{100 * report['pixel_share'][s][name]:>6.2f}"
            for s in splits
        )
        lines.append(f"{name[:20]:<20} {cells}")
    lines.append(f"ignored pixels: {100 * report['ignored_share']:.2f}% of all pixels")
    if report["classes_without_pixels"]:
        lines.append("classes without a pixel: " + ", ".join(report["classes_without_pixels"]))
    if report["empty_masks"]:
        lines.append(f"empty masks (background or ignore only): {report['empty_masks']}")
    lines += [f"note: {n}" for n in ds.notes]
    if ds.problems:
        outcome = ", ".join(f"{k} {n}" for k, n in report["problem_counts"].items())
        lines.append(
            f"problems ({len(ds.problems)}: {outcome}; nothing in your files was changed):"
        )
        lines += [f"  {p}" for p in ds.problems[:max_problems]]
        if len(ds.problems) > max_problems:
            lines.append(f"  ... and {len(ds.problems) - max_problems} more (see --json)")
    return "\n".join(lines)
