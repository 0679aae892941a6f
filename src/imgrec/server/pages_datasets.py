"""The dataset pages (the list, one dataset's report) and the new-experiment form.

A classification report shows images per class and split, sizes, skipped files and duplicates;
a detection report (``task: detect``) shows images and objects per class and split, the COCO
box-size bands, the images without objects, every problem with its file and line or key, and
sample images with their true boxes drawn over them (positioned in percent of the image, so they
scale with the thumbnail; no script needed); an instance dataset (``task: instance``) the same,
its thumbnails drawn with their true masks. A segmentation report (``task: segment``) is built in
:mod:`imgrec.server.pages_segment`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from imgrec.server import routes_datasets
from imgrec.server.deps import ConfigDep, LibraryDep
from imgrec.server.pages_segment import MAX_PROBLEMS_SHOWN, SPLITS, segmentation_context
from imgrec.server.render import AUTH, PALETTE, not_found, render
from imgrec.server.schemas import DatasetDetail

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
TASK_LABELS = {
    "classify": "Image classification",
    "detect": "Object detection",
    "segment": "Semantic segmentation",
    "instance": "Instance segmentation",
}


@router.get("/datasets", response_class=HTMLResponse, dependencies=AUTH)
def datasets(request: Request, library: LibraryDep, config: ConfigDep) -> HTMLResponse:
    return render(
        request,
        "datasets.html",
        section="Datasets",
        datasets=routes_datasets.list_datasets(library),
        max_upload=config.max_upload_bytes,
    )


def _percent(value: float, total: int) -> float:
    return round(min(100.0, max(0.0, 100.0 * value / max(1, total))), 3)


def _drawn_samples(detail: DatasetDetail) -> dict[str, list[dict[str, Any]]]:
    """Per class, each sample's boxes as CSS percentages with its class colour."""
    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(detail.classes)}
    drawn: dict[str, list[dict[str, Any]]] = {}
    for name, samples in detail.sample_images.items():
        drawn[name] = []
        for sample in samples:
            boxes = []
            for b in sample.boxes:
                x0, y0, x1, y1 = b.box
                left, top = _percent(x0, sample.width), _percent(y0, sample.height)
                boxes.append(
                    {
                        "label": b.label,
                        "colour": colours.get(b.label, PALETTE[-1]),
                        "crowd": b.crowd,
                        "style": f"left:{left}%; top:{top}%; "
                        f"width:{_percent(x1, sample.width) - left:.3f}%; "
                        f"height:{_percent(y1, sample.height) - top:.3f}%",
                        "inside": top < 12,  # no room above the box for its label
                        "right": left > 60,  # the label runs leftwards, inside the image
                    }
                )
            drawn[name].append(
                {
                    "file": sample.file,
                    "split": sample.split,
                    "boxes": boxes,
                    "masks": bool(sample.overlay),
                }
            )
    return drawn


def _totals(name: str, splits: list[str], *tables: dict[str, dict[str, int]]) -> tuple[int, ...]:
    """The class's count over every split, in each table (images, then objects)."""
    return tuple(sum(table.get(s, {}).get(name, 0) for s in splits) for table in tables)


def _detection_context(detail: DatasetDetail, report: dict[str, Any]) -> dict[str, Any]:
    counts = report.get("counts", {})
    instances: dict[str, dict[str, int]] = counts.get("instances", {})
    images: dict[str, dict[str, int]] = report.get("images_per_class", {})
    splits = [s for s in SPLITS if s in instances] + [s for s in instances if s not in SPLITS]
    problems = report.get("problems", [])
    return {
        "det_splits": splits,
        "det_images": images,
        "det_instances": instances,
        "det_totals": {c: _totals(c, splits, images, instances) for c in report["classes"]},
        "problems": problems[:MAX_PROBLEMS_SHOWN],
        "problems_hidden": max(0, len(problems) - MAX_PROBLEMS_SHOWN),
        "drawn": _drawn_samples(detail),
        "colours": {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(detail.classes)},
        "masks": report.get("masks"),  # instance: objects with and without a mask
    }


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse, dependencies=AUTH)
def dataset(request: Request, dataset_id: str, library: LibraryDep) -> HTMLResponse:
    try:
        detail = routes_datasets.get_dataset(dataset_id, library)
    except HTTPException:
        return not_found(request, "No such dataset.", ("/datasets", "all datasets"))
    report = detail.report
    detect = detail.task in ("detect", "instance")
    page_data: dict[str, Any] = {"id": detail.id, "status": detail.status, "task": detail.task}
    context: dict[str, Any] = {}
    if report and detail.task == "segment":
        context = segmentation_context(detail, report)
        page_data |= context["chart"]
    elif report and detect:
        context = _detection_context(detail, report)
        page_data |= {
            "classes": report.get("classes", []),
            "splits": context["det_splits"],
            "instances": context["det_instances"],
            "images": context["det_images"],
            "box_sizes": report.get("box_sizes", {}),
        }
    elif report:
        page_data |= {
            "classes": report.get("classes", []),
            "per_class": report.get("images_per_class", {}),
            "per_split": report.get("images_per_split", {}),
        }
    splits = [s for s in SPLITS if (report or {}).get("images_per_split", {}).get(s)]
    return render(
        request,
        "dataset.html",
        section="Datasets",
        d=detail,
        r=report,
        samples=detail.samples,
        splits=splits,
        page_data=page_data,
        task_label=TASK_LABELS.get(detail.task or "", ""),
        other_tasks=[TASK_LABELS.get(t, t) for t in detail.tasks[1:]],
        **context,
    )


@router.get("/experiments/new", response_class=HTMLResponse, dependencies=AUTH)
def new_experiment(
    request: Request, library: LibraryDep, dataset: str | None = None
) -> HTMLResponse:
    usable = [d for d in routes_datasets.list_datasets(library) if d.usable]
    selected = dataset if any(d.id == dataset for d in usable) else None
    chosen = next((d for d in usable if d.id == selected), usable[0] if usable else None)
    return render(
        request,
        "experiment_new.html",
        section="Experiments",
        datasets=usable,
        selected=selected,
        task=(chosen.task if chosen else None) or "classify",
        task_labels=TASK_LABELS,
        # every task each dataset can train (a COCO set with masks: instance, detect, segment)
        page_data={"dataset_tasks": {d.id: d.tasks or [d.task or "classify"] for d in usable}},
    )
