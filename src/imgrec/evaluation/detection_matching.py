"""Matching predicted boxes to true ones: IoU and the detection confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from imgrec.evaluation.detection import GroundTruthImage, ImagePredictions

__all__ = ["box_iou", "detection_confusion_matrix"]


def _boxes(value: Any, where: str) -> np.ndarray:
    b = np.asarray(value, dtype=np.float64).reshape(-1, 4) if np.size(value) else np.zeros((0, 4))
    if not np.isfinite(b).all() or (b[:, 2:] < b[:, :2]).any():
        raise ValueError(f"{where}: boxes must be finite xyxy with x2 >= x1 and y2 >= y1")
    return b


def _labels(value: Any, n: int, num_classes: int, where: str) -> np.ndarray:
    lab = np.asarray(value, dtype=np.int64).reshape(-1)
    if len(lab) != n:
        raise ValueError(f"{where}: got {len(lab)} labels for {n} boxes")
    if len(lab) and (lab.min() < 0 or lab.max() >= num_classes):
        raise ValueError(f"{where}: labels must be class indices in [0, {num_classes})")
    return lab


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.asarray(np.clip(rb - lt, 0, None).prod(axis=2), dtype=np.float64)


def _area(b: np.ndarray) -> np.ndarray:
    return np.asarray((b[:, 2:] - b[:, :2]).prod(axis=1), dtype=np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(N, M)`` of xyxy boxes ``(N, 4)`` and ``(M, 4)``, continuous coordinates."""
    inter = _intersection(a, b)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def detection_confusion_matrix(
    images: Sequence[GroundTruthImage],
    predictions: Sequence[ImagePredictions],
    num_classes: int,
    *,
    iou: float = 0.5,
    score_threshold: float = 0.25,
) -> np.ndarray:
    """Counts ``(K + 1, K + 1)``: rows true class, columns predicted; index ``K`` is background.

    Per image, predictions scoring ``>= score_threshold`` are taken by descending score; each
    claims the unclaimed non-crowd true box of highest IoU ``>= iou``, whatever its class. A
    missed true box counts as predicted background; an unmatched prediction as true background,
    unless it lies on a crowd region (intersection over its area ``>= iou``): it is then ignored,
    as COCO ignores it. Crowd regions are never "missed".
    """
    k = num_classes
    matrix = np.zeros((k + 1, k + 1), dtype=np.int64)
    preds = {int(p.image_id): p for p in predictions}
    for im in images:
        where = f"image_id {im.image_id}"
        gt_boxes = _boxes(im.boxes, where)
        gt_labels = _labels(im.labels, len(gt_boxes), k, where)
        crowd = im.crowd()
        boxes, labels = gt_boxes[~crowd], gt_labels[~crowd]
        p = preds.get(int(im.image_id))
        if p is None:
            p_boxes, p_labels, scores = np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
        else:
            p_boxes = _boxes(p.boxes, f"predictions of {where}")
            p_labels = _labels(p.labels, len(p_boxes), k, f"predictions of {where}")
            scores = np.asarray(p.scores, dtype=np.float64).reshape(-1)
        keep = scores >= score_threshold
        order = np.argsort(-scores[keep], kind="stable")
        p_boxes, p_labels = p_boxes[keep][order], p_labels[keep][order]
        ious = box_iou(p_boxes, boxes)
        area = _area(p_boxes)[:, None]
        inter = _intersection(p_boxes, gt_boxes[crowd])  # over the prediction: COCO's crowd IoU
        ioa = np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
        on_crowd = np.asarray((ioa >= iou).any(axis=1), dtype=bool)
        claimed = np.zeros(len(boxes), dtype=bool)
        for i in range(len(p_boxes)):
            candidates = np.where(claimed, -1.0, ious[i])
            j = int(candidates.argmax()) if len(boxes) else -1
            if j >= 0 and float(candidates[j]) >= iou:
                claimed[j] = True
                matrix[labels[j], p_labels[i]] += 1
            elif not on_crowd[i]:
                matrix[k, p_labels[i]] += 1
        np.add.at(matrix, (labels[~claimed], k), 1)
    return matrix
