"""Reading and checking an uploaded dataset for its page, by the task its layout belongs to.

Class folders (and the other classification layouts) go through ``imgrec.api.read_dataset``;
COCO, YOLO and VOC layouts through ``imgrec.api.check_data`` with ``task: detect``, and COCO sets
with masks with ``task: instance`` (their samples drawn with their masks), the same readers and
report as ``imgrec data check``; segmentation layouts in :mod:`imgrec.server.mask_checks`. Each
check returns what the library stores: the report (no server folder in it), a few sample images
per class, and the summary for ``meta.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_SHOWN_EMPTY",
    "Checked",
    "Scrub",
    "check_classification",
    "check_detection",
    "cleaner",
]

MAX_SHOWN_EMPTY = 200  # images without objects listed by name (all are counted)
Scrub = Callable[[str], str]


@dataclass
class Checked:
    """A finished check: ``report`` (JSON), the sample images and the meta fields."""

    report: dict[str, Any]
    root: Path
    paths: dict[str, list[str]]  # class -> sample image paths relative to ``root``
    meta: dict[str, Any]
    images: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # boxes, overlays


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def check_classification(
    archive: Path, *, extract_root: Path, name: str, per_class: int, scrub: Scrub
) -> Checked:
    """Read and validate every image of a classification upload (slow)."""
    from imgrec.api import read_dataset

    manifest, report = read_dataset(archive, progress=False, extract_root=extract_root)
    data = report.to_dict()
    root = Path(report.root)
    data["skipped"] = [
        {"path": _relative(Path(s["path"]), root), "reason": s["reason"]} for s in data["skipped"]
    ]
    samples: dict[str, list[str]] = {c: [] for c in manifest.classes}
    for sample in manifest.samples:
        chosen = samples[manifest.classes[sample.label]]
        if len(chosen) < per_class:
            chosen.append(_relative(sample.path, root))
    # Server folders stay on the server: the report names the upload, not where it lives.
    data["source"], data["root"] = name, ""
    data["notes"] = [scrub(n) for n in data["notes"]]
    meta = {
        "task": "classify",
        "tasks": ["classify"],
        "layout": data.get("layout"),
        "num_images": report.num_images,
        "num_classes": len(report.classes),
        "classes": list(report.classes),
        "usable": report.usable,
        "error": "; ".join(report.errors) or None,
    }
    return Checked(report=data, root=root, paths=samples, meta=meta)


def _problem(entry: dict[str, Any], scrub: Scrub) -> dict[str, Any]:
    """A reader's problem for the page: file, line or key, what was wrong, what was done."""
    place = f"{entry['file']} {entry['where']}" if entry.get("where") else str(entry["file"])
    text = str(entry.get("text", ""))
    message = text[len(place) + 2 :] if text.startswith(f"{place}: ") else text
    return {
        "file": scrub(str(entry["file"])),
        "where": entry.get("where"),
        "outcome": entry.get("outcome"),
        "message": scrub(message),
        "text": scrub(text),
    }


def cleaner(root: Path, folder: Path, name: str, scrub: Scrub) -> Scrub:
    """``scrub`` after the dataset's folders: paths inside read relative, the folder as ``name``."""
    hide = (str(root), str(folder.resolve()), str(folder))

    def clean(text: str) -> str:
        for prefix in hide:
            text = text.replace(f"{prefix}/", "").replace(prefix, name)
        return scrub(text)

    return clean


def check_detection(
    folder: Path,
    *,
    name: str,
    per_class: int,
    scrub: Scrub,
    task: str = "detect",
    tasks: list[str] | None = None,
    overlays: Path | None = None,
) -> Checked:
    """Read a COCO, YOLO or VOC upload (extracted in ``folder``) as ``imgrec data check`` does:
    counts per class and split, box sizes, images without objects, every problem with its file
    and line or key. With ``task: instance`` the masks are read too and the samples drawn with
    them into ``overlays``."""
    from imgrec.api import check_data, detection_overview

    check = check_data(folder, task=task, progress=False)
    data = check.to_dict()
    overview = detection_overview(check, per_class=per_class)
    root = Path(check.dataset.root).resolve()
    clean = cleaner(root, folder, name, scrub)
    counts = data["counts"]
    what = "masks" if task == "instance" else "boxes"
    errors = [] if check.usable else [f"not usable: no training images with {what}"]
    data.update(
        source=name,
        root="",
        problems=[_problem(p, clean) for p in data["problems"]],
        images_per_class=overview["images_per_class"],
        images_without_objects_files=overview["empty"][:MAX_SHOWN_EMPTY],
        errors=errors,
    )
    samples = overview["samples"]
    if task == "instance" and overlays is not None:
        from imgrec.server.mask_checks import draw_sample_masks

        draw_sample_masks(check, samples, overlays)
    for chosen in samples.values():
        for sample in chosen:
            sample.pop("key", None)
    meta = {
        "task": task,
        "tasks": tasks or [task],
        "layout": data["layout"],
        "num_images": counts["total_images"],
        "num_instances": counts["total_instances"],
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
