"""The instance run's worst-first grid: images ordered by the share of true masks found, true
masks outlined in green over the tinted predictions."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from imgrec.engine.instance_eval import _blend, _mask_recall
from imgrec.engine.instance_inference import InstanceOutput
from imgrec.evaluation.instances import GroundTruthInstances


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def _square(y: int, x: int, side: int = 10, size: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[y : y + side, x : x + side] = True
    return mask


def _truth(masks: list[np.ndarray], labels: list[int], crowd: list[bool] | None = None):
    return GroundTruthInstances(
        image_id=1, file_name="a.png", width=32, height=32,
        boxes=np.zeros((len(masks), 4), dtype=np.float32), labels=np.array(labels),
        iscrowd=None if crowd is None else np.array(crowd),
        segmentations=[_rle(m) for m in masks],
    )  # fmt: skip


def _found(masks: list[np.ndarray], labels: list[int], scores: list[float]) -> InstanceOutput:
    return InstanceOutput(
        boxes=np.zeros((len(masks), 4), dtype=np.float32), scores=np.array(scores),
        labels=np.array(labels), rles=[_rle(m) for m in masks],
    )  # fmt: skip


def test_mask_recall_counts_true_masks_covered_by_a_confident_same_class_mask() -> None:
    a, b = _square(0, 0), _square(20, 20)
    truth = _truth([a, b], [0, 1])
    assert _mask_recall(truth, _found([a, b], [0, 1], [0.9, 0.9])) == 1.0
    assert _mask_recall(truth, _found([a, b], [0, 0], [0.9, 0.9])) == 0.5  # b: wrong class
    assert _mask_recall(truth, _found([a, b], [0, 1], [0.9, 0.1])) == 0.5  # b: not confident
    assert _mask_recall(truth, _found([_square(5, 5)], [0], [0.9])) == 0.0  # IoU 25/175
    assert _mask_recall(truth, _found([], [], [])) == 0.0


def test_mask_recall_leaves_crowd_regions_out_and_scores_empty_images() -> None:
    a, b = _square(0, 0), _square(20, 20)
    assert _mask_recall(_truth([a, b], [0, 1], [False, True]), _found([a], [0], [0.9])) == 1.0
    assert _mask_recall(_truth([], []), _found([], [], [])) == 1.0
    assert _mask_recall(_truth([], []), _found([a], [0], [0.9])) == 0.5  # a false alarm


def test_blend_outlines_true_masks_and_tints_only_confident_predictions() -> None:
    pixels = np.full((32, 32, 3), 100, dtype=np.uint8)
    truth_mask, predicted = _square(2, 2), _square(20, 20)
    out = _blend(pixels, _truth([truth_mask], [0]), _found([predicted], [0], [0.9]))
    assert tuple(out[2, 5]) == (44, 160, 44)  # the true mask's edge
    assert tuple(out[6, 6]) == (100, 100, 100)  # inside it: untouched
    assert tuple(out[25, 25]) != (100, 100, 100)  # the prediction is tinted
    assert tuple(out[31, 0]) == (100, 100, 100)  # the rest stays as it was
    faint = _blend(pixels, _truth([], []), _found([predicted], [0], [0.1]))
    assert (faint == pixels).all()
