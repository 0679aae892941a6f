"""Evaluate a trained instance segmenter on a split: box and mask AP by pycocotools, plots, files.

The ground truth and the predictions (masks as RLE) are saved as ``test_ground_truth.json`` and
``test_predictions.json``; the metrics are pycocotools' on exactly those files
(:func:`imgrec.evaluation.instances.evaluate_instances`). Objects without a usable mask are left
out of the ground truth (the data report lists them); crowd regions stay, as COCO's ignore areas.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgrec.data.detection import DetectionImage
from imgrec.data.detection.masks import decode_segmentation
from imgrec.engine.detect_eval import decode_image, inference_summary
from imgrec.engine.instance_inference import InstanceOutput, segment_instances
from imgrec.evaluation.instances import (
    GroundTruthInstances,
    InstancePredictions,
    evaluate_instances,
)

__all__ = ["evaluate_instance_segmenter", "instance_ground_truth"]

_EVAL_MIN_SCORE = 0.05  # torchvision's own score threshold for COCO evaluation


def instance_ground_truth(image: DetectionImage) -> GroundTruthInstances:
    """The image's objects that have a mask (crowd regions included) as evaluation input."""
    keep = image.mask_flags
    return GroundTruthInstances(
        image_id=image.image_id,
        file_name=image.key,
        width=image.width,
        height=image.height,
        boxes=np.asarray(image.boxes, dtype=np.float32).reshape(-1, 4)[keep],
        labels=np.asarray(image.labels)[keep],
        iscrowd=np.asarray(image.iscrowd, dtype=bool)[keep],
        segmentations=[image.segmentations[i] for i in np.flatnonzero(keep)],
    )


def evaluate_instance_segmenter(
    model: torch.nn.Module,
    images: Sequence[DetectionImage],
    classes: Sequence[str],
    *,
    category_ids: Sequence[int],
    out_dir: Path,
    device: str = "cpu",
    img_size: int = 512,
    prefix: str = "test",
) -> dict[str, Any]:
    """Box and mask COCO metrics of ``model`` on ``images``; writes the files and plots.

    The report holds the box metrics under detection's names (``map``, ``map50``, ...) and the
    mask metrics prefixed ``mask_`` (``mask_map``, ``mask_per_class``, ...).
    """
    thresholds: Any = model
    saved = thresholds.score_thresh
    thresholds.score_thresh = _EVAL_MIN_SCORE
    started = time.perf_counter()
    found: list[InstanceOutput] = []
    try:
        for start in range(0, len(images), 4):  # decoded a few at a time: bounded memory
            pixels = [decode_image(im.path) for im in images[start : start + 4]]
            found += segment_instances(model, pixels, img_size=img_size, device=device)
    finally:
        thresholds.score_thresh = saved
    seconds = time.perf_counter() - started
    truth = [instance_ground_truth(im) for im in images]
    preds = [
        InstancePredictions(
            image_id=im.image_id,
            boxes=out.boxes,
            scores=out.scores,
            labels=out.labels,
            masks=out.rles,
        )
        for im, out in zip(images, found, strict=True)
    ]
    report = evaluate_instances(
        truth, preds, list(classes), out_dir=out_dir, category_ids=list(category_ids), prefix=prefix
    )
    metrics: dict[str, Any] = report.to_dict()
    metrics["classes"] = list(classes)
    try:
        _plots(report, images, truth, found, list(classes), out_dir)
    except Exception as exc:  # a plot must never lose the metrics already computed
        sys.stderr.write(f"warning: instance plots skipped ({type(exc).__name__}: {exc})\n")
    metrics["inference"] = inference_summary(len(images), seconds, device=device, img_size=img_size)
    return metrics


def _masks(segmentations: Sequence[Any], height: int, width: int) -> np.ndarray:
    """``(N, H, W)`` bool pixels of COCO segmentations (polygons or RLE)."""
    decoded = [
        np.asarray(seg, dtype=bool) if isinstance(seg, np.ndarray) else
        decode_segmentation(seg, height, width)
        for seg in segmentations
    ]  # fmt: skip
    return np.stack(decoded) if decoded else np.zeros((0, height, width), dtype=bool)


def _mask_recall(truth: GroundTruthInstances, found: InstanceOutput, conf: float = 0.25) -> float:
    """How well one image went (for the worst-first grid): the share of its true masks (crowd
    regions aside) that a confident prediction of the same class covers at mask IoU >= 0.5."""
    keep = ~truth.crowd()
    gt = _masks([s for s, k in zip(truth.segmentations, keep, strict=True) if k],
                truth.height, truth.width)  # fmt: skip
    confident = np.flatnonzero(np.asarray(found.scores) >= conf)
    if len(gt) == 0:
        return 1.0 if len(confident) == 0 else 0.5
    if len(confident) == 0:
        return 0.0
    dt = _masks([found.rles[i] for i in confident], truth.height, truth.width)
    inter = np.einsum("ghw,dhw->gd", gt.astype(np.float32), dt.astype(np.float32))
    union = gt.sum(axis=(1, 2))[:, None] + dt.sum(axis=(1, 2))[None, :] - inter
    iou = inter / np.maximum(union, 1.0)
    same = np.asarray(truth.labels)[keep][:, None] == np.asarray(found.labels)[confident][None]
    return float(((iou >= 0.5) & same).any(axis=1).mean())


def _blend(
    pixels: np.ndarray,
    truth: GroundTruthInstances,
    out: InstanceOutput,
    *,
    min_score: float = 0.25,
) -> np.ndarray:
    """The image with each confident predicted mask tinted in its class colour (the 10 most
    confident) and each true mask outlined in green, the colour of the true boxes."""
    from imgrec.evaluation.segmentation_plots import default_palette

    palette = default_palette(int(out.labels.max(initial=0)) + 2).astype(np.float64)
    blended = pixels.astype(np.float64)
    height, width = pixels.shape[:2]
    for i in np.argsort(out.scores)[::-1][:10][::-1]:
        if out.scores[i] < min_score:
            continue
        mask = decode_segmentation(out.rles[i], height, width)
        blended[mask] = 0.5 * blended[mask] + 0.5 * palette[int(out.labels[i]) + 1]
    for mask in _masks(truth.segmentations, height, width):
        inner = mask.copy()  # a pixel of the mask whose four neighbours are all in it
        inner[1:, :] &= mask[:-1, :]
        inner[:-1, :] &= mask[1:, :]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        blended[mask & ~inner] = (44, 160, 44)  # matplotlib's tab:green
    return np.round(blended).astype(np.uint8)


def _plots(
    report: Any,
    images: Sequence[DetectionImage],
    truth: Sequence[GroundTruthInstances],
    found: Sequence[InstanceOutput],
    classes: list[str],
    out_dir: Path,
) -> None:
    """PR curves of the masks and of the boxes, and the worst test images with their masks."""
    from imgrec.evaluation.detection_plots import plot_detection_grid, plot_pr_curves

    plot_pr_curves(report.mask.pr_curves, classes, out_dir / "pr_curves_masks.png")
    plot_pr_curves(report.box.pr_curves, classes, out_dir / "pr_curves.png")
    scores = [_mask_recall(t, f) for t, f in zip(truth, found, strict=True)]
    samples = []
    for i in np.argsort(scores, kind="stable")[:16]:
        t, f = truth[i], found[i]
        pixels = _blend(decode_image(images[i].path), t, f)
        samples.append((pixels, t.boxes, t.labels, f.boxes, f.scores, f.labels, images[i].key))
    plot_detection_grid(samples, classes, out_dir / "instances_worst.png")
