"""Segmentation uploads checked for their page, and true masks drawn on the sample images.

Mask folders, VOC ``SegmentationClass`` and COCO sets with masks read as ``segment`` go through
``imgrec.api.check_segmentation_data``, the readers and report of ``imgrec data check --task
segment``: pixel shares and images per class and split, empty masks, ignored pixels and every
problem with its file, what was done and what to do. The samples of a segmentation or an
instance upload are drawn once, at check time, with their true masks blended in
(``imgrec.api.sample_overlay_png``), into the upload's ``overlays/`` folder as ``<n>.png``: the
page asks for a sample by class and index, never by a path or a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrec.errors import ImgrecError
from imgrec.server.dataset_checks import Checked, Scrub, cleaner
from imgrec.server.render import PALETTE

__all__ = ["OVERLAY_PX", "check_segmentation", "draw_sample_masks"]

OVERLAY_PX = 320  # the sample thumbnails of mask datasets: the shapes stay readable
_COLOURS = [(int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)) for c in PALETTE]  # as RGB


def draw_sample_masks(check: Any, samples: dict[str, list[dict[str, Any]]], out: Path) -> None:
    """Write each distinct sample's overlay to ``out/<n>.png`` and name it in the sample's
    ``overlay``; a sample whose image or mask cannot be read keeps no overlay (its plain
    thumbnail is shown)."""
    from imgrec.api import sample_overlay_png

    out.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, str | None] = {}
    for chosen in samples.values():
        for sample in chosen:
            key = str(sample.pop("key"))
            if key not in drawn:
                name = f"{len(drawn)}.png"
                try:
                    data = sample_overlay_png(check, key, size=OVERLAY_PX, colours=_COLOURS)
                except (OSError, ValueError, KeyError, ImgrecError):
                    drawn[key] = None
                    continue
                (out / name).write_bytes(data)
                drawn[key] = name
            sample["overlay"] = drawn[key]


def _samples(check: Any, per_class: int) -> dict[str, list[dict[str, Any]]]:
    """Per class, up to ``per_class`` images showing it, the most of its pixels first."""
    ds = check.dataset
    samples: dict[str, list[dict[str, Any]]] = {}
    for index, name in enumerate(ds.classes):
        showing = [img for img in ds.images if len(img.pixels) > index and img.pixels[index]]
        showing.sort(key=lambda img: -img.pixels[index])
        samples[name] = [
            {
                "file": img.key,
                "key": img.key,
                "split": img.split,
                "width": img.width,
                "height": img.height,
                "share": round(img.pixels[index] / max(1, sum(img.pixels)), 4),
                "shows": [c for c, n in zip(ds.classes, img.pixels, strict=False) if n],
                "boxes": [],
            }
            for img in showing[:per_class]
        ]
    return samples


def _problems(check: Any, clean: Scrub) -> list[dict[str, Any]]:
    """Each problem with its file, place, kind, what was wrong, what was done, what to do."""
    return [
        {
            "file": clean(p.file),
            "where": p.where,
            "kind": p.kind,
            "outcome": p.outcome,
            "message": clean(p.message),
            "advice": clean(p.advice),
            "text": clean(str(p)),
        }
        for p in check.dataset.problems
    ]


def check_segmentation(
    folder: Path, *, name: str, per_class: int, scrub: Scrub, overlays: Path, tasks: list[str]
) -> Checked:
    """Read a segmentation upload (extracted in ``folder``) as ``imgrec data check --task
    segment`` does, and draw its samples' masks into ``overlays``."""
    from imgrec.api import check_segmentation_data

    check = check_segmentation_data(folder)
    data = check.to_dict()
    root = Path(check.dataset.root).resolve()
    clean = cleaner(root, folder, name, scrub)
    errors = [] if check.usable else ["not usable: no training images with masks"]
    data.update(
        source=name,
        root="",
        notes=[clean(n) for n in data["notes"]],
        problems=_problems(check, clean),
        errors=errors,
    )
    samples = _samples(check, per_class)
    draw_sample_masks(check, samples, overlays)
    meta = {
        "task": "segment",
        "tasks": tasks,
        "layout": data["layout"],
        "num_images": data["counts"]["total_images"],
        "num_classes": len(data["classes"]),
        "classes": list(data["classes"]),
        "usable": check.usable,
        "error": "; ".join(errors) or None,
    }
    return Checked(
        report=data,
        root=root,
        paths={c: [s["file"] for s in found] for c, found in samples.items()},
        meta=meta,
        images=samples,
    )
