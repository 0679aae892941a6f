"""COCO-style box detection metrics, computed by pycocotools on the files that are saved.

Boxes are float ``(N, 4)`` ``xyxy`` in absolute, continuous pixel coordinates (no ``+1``); labels
are 0-based indices into ``classes`` (there is no background class); class ``i`` is COCO category
``category_ids[i]`` (default ``i + 1``). :func:`evaluate_detections` writes
``{prefix}_ground_truth.json`` and ``{prefix}_predictions.json`` and evaluates exactly those files,
so ``COCO(gt) + loadRes(pred) + COCOeval`` on them reproduces every number. Floats are written at
full precision (JSON round-trips them exactly); nothing is truncated before pycocotools, which
keeps the ``maxDets`` highest-scoring detections per image and category itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from imgrec.evaluation.detection_matching import (
    _boxes,
    _labels,
    box_iou,
    detection_confusion_matrix,
)
from imgrec.evaluation.writers import write_json

__all__ = [
    "DetectionMetrics",
    "GroundTruthImage",
    "ImagePredictions",
    "PrecisionRecallCurve",
    "box_iou",
    "coco_ground_truth",
    "coco_results",
    "detection_confusion_matrix",
    "evaluate_detections",
    "metrics_from_cocoeval",
    "precision_recall_curves",
    "run_cocoeval",
]

_STATS = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip  # the order of COCOeval.stats


@dataclass(frozen=True)
class GroundTruthImage:
    """One image's true boxes ``(N, 4)`` xyxy, labels ``(N,)`` and ``iscrowd`` ``(N,)``."""

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray | None = None  # None: no crowd region

    def crowd(self) -> np.ndarray:
        n = len(np.asarray(self.labels).reshape(-1))
        if self.iscrowd is None:
            return np.zeros(n, dtype=bool)
        return np.asarray(self.iscrowd, dtype=bool).reshape(n)


@dataclass(frozen=True)
class ImagePredictions:
    """One image's predicted boxes ``(M, 4)`` xyxy, scores ``(M,)`` and labels ``(M,)``."""

    image_id: int
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def _category_ids(classes: Sequence[str], category_ids: Sequence[int] | None) -> list[int]:
    ids = (
        list(range(1, len(classes) + 1)) if category_ids is None else [int(c) for c in category_ids]
    )
    if len(ids) != len(classes) or len(set(ids)) != len(ids):
        raise ValueError(f"category_ids must be {len(classes)} distinct ints, got {ids}")
    return ids


def _xywh(b: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in b)
    return [x1, y1, x2 - x1, y2 - y1]


def coco_ground_truth(
    images: Sequence[GroundTruthImage],
    classes: Sequence[str],
    category_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The COCO dataset dict (``images``, ``annotations`` with ``bbox`` ``[x, y, w, h]``,
    ``area = w * h``, ``iscrowd``, ids from 1, ``categories``)."""
    cats = _category_ids(classes, category_ids)
    if len({int(im.image_id) for im in images}) != len(images):
        raise ValueError("image_id values must be unique")
    annotations: list[dict[str, Any]] = []
    for im in images:
        where = f"image_id {im.image_id}"
        boxes = _boxes(im.boxes, where)
        labels = _labels(im.labels, len(boxes), len(classes), where)
        for box, label, crowd in zip(boxes, labels, im.crowd(), strict=True):
            bbox = _xywh(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": int(im.image_id),
                    "category_id": cats[int(label)],
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": int(crowd),
                }
            )
    return {
        "images": [
            {
                "id": int(im.image_id),
                "file_name": im.file_name,
                "width": int(im.width),
                "height": int(im.height),
            }
            for im in images
        ],
        "annotations": annotations,
        "categories": [{"id": c, "name": str(n)} for c, n in zip(cats, classes, strict=True)],
    }


def coco_results(
    predictions: Sequence[ImagePredictions], category_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """COCO result records ``{image_id, category_id, bbox [x, y, w, h], score}``, full precision."""
    out: list[dict[str, Any]] = []
    for p in predictions:
        where = f"predictions of image_id {p.image_id}"
        boxes = _boxes(p.boxes, where)
        labels = _labels(p.labels, len(boxes), len(category_ids), where)
        scores = np.asarray(p.scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f"{where}: got {len(scores)} scores for {len(boxes)} boxes")
        for box, label, score in zip(boxes, labels, scores, strict=True):
            out.append(
                {
                    "image_id": int(p.image_id),
                    "category_id": int(category_ids[int(label)]),
                    "bbox": _xywh(box),
                    "score": float(score),
                }
            )
    return out


def run_cocoeval(
    gt_file: str | Path, pred_file: str | Path, iou_type: Literal["bbox", "segm"] = "bbox"
) -> COCOeval:
    """``COCOeval(iouType=iou_type)`` (``"bbox"`` or ``"segm"``) evaluated, accumulated and
    summarised, prints silenced. An empty result list (which ``COCO.loadRes`` rejects) is
    evaluated as "no detections".

    For ``"segm"`` each result's ``bbox`` is dropped before ``loadRes``, which then takes a
    detection's area (for small / medium / large) from its mask, as the ground truth's; given a
    bbox it takes the box's (detectron2 and MMDetection drop it too). All-area AP/AR are equal.
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        results = json.loads(Path(pred_file).read_text(encoding="utf-8"))
        if iou_type == "segm":
            results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
        if results:
            dt = gt.loadRes(results)
        else:
            dt = COCO()
            dt.dataset = {
                "images": list(gt.dataset["images"]),
                "annotations": [],
                "categories": list(gt.dataset["categories"]),
            }
            dt.createIndex()
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """Precision at COCO's 101 recall points, IoU 0.5, all areas, 100 detections."""

    category_id: int
    recall: np.ndarray
    precision: np.ndarray | None  # None: the class has no ground truth
    ap50: float | None


def precision_recall_curves(
    cocoeval: COCOeval, category_ids: Sequence[int] | None = None
) -> list[PrecisionRecallCurve]:
    """One curve per category, in ``category_ids`` order (default: ``cocoeval.params.catIds``)."""
    cat_ids = list(cocoeval.params.catIds)
    order = cat_ids if category_ids is None else [int(c) for c in category_ids]
    precision = cocoeval.eval["precision"][0, :, :, 0, -1]  # (R, K) at IoU .5, area all, 100
    recall = np.asarray(cocoeval.params.recThrs, dtype=float)
    curves = []
    for c in order:
        p = precision[:, cat_ids.index(c)]
        absent = bool((p <= -1).all())
        curves.append(PrecisionRecallCurve(c, recall, None if absent else p.copy(), _mean_valid(p)))
    return curves


@dataclass(frozen=True)
class DetectionMetrics:
    """The 12 COCO numbers (``None`` where pycocotools says -1: nothing in that range)."""

    map: float | None
    map50: float | None
    map75: float | None
    map_small: float | None
    map_medium: float | None
    map_large: float | None
    ar1: float | None
    ar10: float | None
    ar100: float | None
    ar_small: float | None
    ar_medium: float | None
    ar_large: float | None
    per_class: list[dict[str, Any]]  # {class, category_id, ap, ap50, instances}
    num_images: int
    num_instances: int
    pr_curves: list[PrecisionRecallCurve] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the 12 stats, ``per_class``, counts (no curves); absent values are None."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _STATS}
        out.update(
            per_class=[dict(r) for r in self.per_class],
            num_images=self.num_images,
            num_instances=self.num_instances,
        )
        return out

    def summary(self) -> str:
        """A readable table of the stats and of per-class AP."""

        def fmt(v: float | None) -> str:
            return "   -  " if v is None else f"{v:6.3f}"

        lines = [f"{self.num_images} images, {self.num_instances} instances"]
        lines += [f"{name:<12}{fmt(getattr(self, name))}" for name in _STATS]
        width = max([5, *(len(str(r["class"])) for r in self.per_class)])
        lines.append(f"{'class':<{width}}  {'id':>4}  {'AP':>6}  {'AP50':>6}  {'n':>6}")
        lines += [
            f"{r['class']:<{width}}  {r['category_id']:>4}  {fmt(r['ap'])}  {fmt(r['ap50'])}  "
            f"{r['instances']:>6}"
            for r in self.per_class
        ]
        return "\n".join(lines)


def metrics_from_cocoeval(
    ev: COCOeval, gt: dict[str, Any], classes: Sequence[str], cats: Sequence[int]
) -> DetectionMetrics:
    """The :class:`DetectionMetrics` of ``ev`` (evaluated, accumulated, summarised) on the COCO
    dataset dict ``gt``; ``classes`` in label order, ``cats`` their COCO category ids."""
    stats = [None if float(s) <= -1 else float(s) for s in ev.stats]
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K), area all, 100 detections
    cat_ids = list(ev.params.catIds)
    counts = dict.fromkeys(cats, 0)
    for ann in gt["annotations"]:
        counts[ann["category_id"]] += 0 if ann["iscrowd"] else 1
    per_class = []
    for name, c in zip(classes, cats, strict=True):
        k = cat_ids.index(c)
        ap, ap50 = _mean_valid(precision[:, :, k]), _mean_valid(precision[0, :, k])
        per_class.append(
            {"class": str(name), "category_id": c, "ap": ap, "ap50": ap50, "instances": counts[c]}
        )
    return DetectionMetrics(
        **dict(zip(_STATS, stats, strict=True)),
        per_class=per_class,
        num_images=len(gt["images"]),
        num_instances=sum(counts.values()),
        pr_curves=precision_recall_curves(ev, cats),
    )


def evaluate_detections(
    images: Sequence[GroundTruthImage],
    predictions: Sequence[ImagePredictions],
    classes: Sequence[str],
    *,
    out_dir: Path | None,
    category_ids: Sequence[int] | None = None,
    prefix: str = "test",
) -> DetectionMetrics:
    """Write the COCO ground truth and results into ``out_dir``, then evaluate those files.

    ``out_dir=None`` writes them to a temporary directory that is removed afterwards.
    """
    cats = _category_ids(classes, category_ids)
    gt = coco_ground_truth(images, classes, cats)
    known = {im["id"] for im in gt["images"]}
    unknown = sorted({int(p.image_id) for p in predictions} - known)
    if unknown:
        raise ValueError(f"predictions for image_id {unknown[:5]} that has no ground truth entry")
    results = coco_results(predictions, cats)
    with contextlib.ExitStack() as stack:
        out = (
            Path(stack.enter_context(tempfile.TemporaryDirectory())) if out_dir is None else out_dir
        )
        gt_file = write_json(Path(out) / f"{prefix}_ground_truth.json", gt)
        pred_file = write_json(Path(out) / f"{prefix}_predictions.json", results)
        ev = run_cocoeval(gt_file, pred_file)
    return metrics_from_cocoeval(ev, gt, classes, cats)
