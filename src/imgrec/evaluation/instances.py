"""COCO instance-segmentation metrics (box and mask AP), computed by pycocotools on saved files.

Boxes, labels and ``category_ids`` follow :mod:`imgrec.evaluation.detection`. A true instance's
segmentation is COCO polygons ``[[x1, y1, x2, y2, ...], ...]``, an RLE ``{"size": [h, w],
"counts": str | list[int]}`` (crowd regions usually are uncompressed RLE) or a boolean ``(h, w)``
mask (written as RLE); its ``area`` is the mask's area, COCO's convention, so small / medium /
large go by mask area in both the box and the mask evaluation. Predicted masks are boolean
``(M, H, W)`` at the image's size (threshold the probabilities first, e.g. at 0.5) or already M
RLE dicts of that size; they are written as compressed RLE (``counts`` a ``str``) next to the
given boxes, so one results file serves both evaluations.

:func:`evaluate_instances` writes ``{prefix}_ground_truth.json`` and ``{prefix}_predictions.json``
and evaluates exactly those files with :func:`~imgrec.evaluation.detection.run_cocoeval`, once
with ``"bbox"`` and once with ``"segm"``. To recompute (the mask evaluation drops each result's
``bbox``, so that a detection's area is its mask's, as detectron2 and MMDetection do)::

    gt = COCO("test_ground_truth.json")
    results = json.loads(Path("test_predictions.json").read_text())
    segm = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    COCOeval(gt, gt.loadRes(segm), iouType="segm")  # the box one: gt.loadRes(results), "bbox"
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from imgrec.evaluation.detection import (
    _STATS,
    DetectionMetrics,
    GroundTruthImage,
    ImagePredictions,
    _category_ids,
    coco_ground_truth,
    coco_results,
    metrics_from_cocoeval,
    run_cocoeval,
)
from imgrec.evaluation.writers import write_json

__all__ = [
    "GroundTruthInstances",
    "InstanceMetrics",
    "InstancePredictions",
    "coco_instance_ground_truth",
    "coco_instance_results",
    "encode_mask",
    "evaluate_instances",
]


@dataclass(frozen=True)
class GroundTruthInstances(GroundTruthImage):
    """One image's true instances: a :class:`GroundTruthImage` plus ``segmentations``
    (keyword-only), one per box: polygons, an RLE dict or a boolean ``(height, width)`` mask."""

    segmentations: Sequence[Any] = field(kw_only=True)


@dataclass(frozen=True)
class InstancePredictions(ImagePredictions):
    """One image's predictions: an :class:`ImagePredictions` plus ``masks``, one per box at the
    image's size: a boolean (or 0/1) ``(M, height, width)`` array, or a sequence of M COCO RLE
    dicts ``{"size": [height, width], "counts": str | bytes | list[int]}``."""

    masks: np.ndarray | Sequence[Mapping[str, Any]]


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """The compressed COCO RLE of a boolean ``(H, W)`` mask, ``counts`` as ``str`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _segmentation(segm: Any, height: int, width: int, where: str) -> Any:
    """``segm`` as plain JSON types, checked against the image's ``height`` and ``width``."""
    array = isinstance(segm, np.ndarray) and segm.ndim == 2  # a mask, or (K, 2n) polygons
    if array and (segm.dtype == bool or segm.shape == (height, width)):
        if segm.shape != (height, width):
            raise ValueError(f"{where}: a {segm.shape} mask on a {height}x{width} image")
        if segm.dtype != bool and not np.isin(segm, (0, 1)).all():
            raise ValueError(f"{where}: a mask must be boolean (or 0/1)")
        return encode_mask(segm.astype(bool))
    if isinstance(segm, Mapping):
        if "size" not in segm or "counts" not in segm:
            raise ValueError(f"{where}: an RLE segmentation needs 'size' and 'counts'")
        size = [int(v) for v in segm["size"]]
        if size != [height, width]:
            raise ValueError(f"{where}: RLE size {size} is not [height, width] {[height, width]}")
        counts = segm["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if isinstance(counts, str):
            return {"size": size, "counts": counts}
        runs = [int(c) for c in np.asarray(counts).reshape(-1)]
        if min(runs, default=0) < 0 or sum(runs) != height * width:
            raise ValueError(f"{where}: uncompressed RLE counts must sum to {height * width}")
        return {"size": size, "counts": runs}
    polygons = [np.asarray(p, dtype=np.float64).reshape(-1) for p in segm]
    if not polygons or any(len(p) < 6 or len(p) % 2 or not np.isfinite(p).all() for p in polygons):
        raise ValueError(
            f"{where}: a segmentation must be an RLE dict, a boolean mask or a non-empty list of "
            "polygons [x1, y1, x2, y2, x3, y3, ...]"
        )
    return [[float(v) for v in p] for p in polygons]


def _area(segm: Any, height: int, width: int) -> float:
    """The mask area, the RLE built as ``COCO.annToRLE`` builds it."""
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm["counts"], list):
        rle = mask_utils.frPyObjects(segm, height, width)
    else:
        rle = segm
    return float(mask_utils.area(rle))


def coco_instance_ground_truth(
    images: Sequence[GroundTruthInstances],
    classes: Sequence[str],
    category_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """:func:`~imgrec.evaluation.detection.coco_ground_truth` plus each annotation's
    ``segmentation`` (as given; a boolean mask as compressed RLE) and ``area`` = its mask area."""
    gt = coco_ground_truth(images, classes, category_ids)
    annotations = iter(gt["annotations"])
    for im in images:
        where = f"image_id {im.image_id}"
        n = len(np.asarray(im.labels).reshape(-1))
        segmentations = list(im.segmentations)
        if len(segmentations) != n:
            raise ValueError(f"{where}: got {len(segmentations)} segmentations for {n} boxes")
        for segm in segmentations:
            ann = next(annotations)
            ann["segmentation"] = _segmentation(segm, int(im.height), int(im.width), where)
            ann["area"] = _area(ann["segmentation"], int(im.height), int(im.width))
    return gt


def _mask_rles(value: Any, n: int, size: tuple[int, int] | None, where: str) -> list[Any]:
    """The ``n`` masks of one image as compressed RLE dicts, checked."""
    if isinstance(value, list | tuple) and all(isinstance(v, Mapping) for v in value):
        if len(value) != n:
            raise ValueError(f"{where}: got {len(value)} mask RLEs for {n} boxes")
        rles = []
        for v in value:
            own = [int(d) for d in v.get("size", ())]
            height, width = size or (own if len(own) == 2 else (-1, -1))
            rle = _segmentation(v, height, width, where)
            if isinstance(rle["counts"], list):  # uncompressed: compress it
                counts = mask_utils.frPyObjects(rle, height, width)["counts"]
                rle = {"size": rle["size"], "counts": counts.decode("ascii")}
            rles.append(rle)
        return rles
    masks = np.asarray(value)
    if n == 0 and masks.size == 0:
        return []
    if masks.ndim != 3 or len(masks) != n:
        raise ValueError(f"{where}: masks must be (M, H, W) for {n} boxes, got {masks.shape}")
    if size is not None and masks.shape[1:] != size:
        raise ValueError(f"{where}: masks are {masks.shape[1:]} (H, W), the image is {size}")
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError(f"{where}: masks must be boolean (threshold probabilities first)")
        masks = masks.astype(bool)
    return [encode_mask(mask) for mask in masks]


def coco_instance_results(
    predictions: Sequence[InstancePredictions],
    category_ids: Sequence[int],
    *,
    image_sizes: Mapping[int, tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """COCO result records ``{image_id, category_id, bbox [x, y, w, h], score, segmentation}``.

    The bbox is the given box (not the mask's), the segmentation the mask's compressed RLE
    (``counts`` a ``str``; given RLE is kept, uncompressed RLE compressed). ``image_sizes``
    (``image_id`` -> ``(height, width)``), when given, is the size every mask of that image must
    have.
    """
    results = coco_results(predictions, category_ids)
    records = iter(results)
    for p in predictions:
        where = f"predictions of image_id {p.image_id}"
        size = None
        if image_sizes is not None:
            if int(p.image_id) not in image_sizes:
                raise ValueError(f"{where}: the image's size is not in image_sizes")
            height, width = image_sizes[int(p.image_id)]
            size = (int(height), int(width))
        n = len(np.asarray(p.scores).reshape(-1))  # coco_results checked boxes, labels, scores
        for rle in _mask_rles(p.masks, n, size, where):
            next(records)["segmentation"] = rle
    return results


@dataclass(frozen=True)
class InstanceMetrics:
    """The COCO numbers of the boxes (``iouType="bbox"``) and of the masks (``"segm"``)."""

    box: DetectionMetrics
    mask: DetectionMetrics

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the box stats by name (``map``, ..., ``per_class``), the mask ones prefixed
        ``mask_`` (``mask_map``, ..., ``mask_per_class``), ``num_images``, ``num_instances``."""
        box, mask = self.box.to_dict(), self.mask.to_dict()
        out: dict[str, Any] = {name: box[name] for name in (*_STATS, "per_class")}
        out.update({f"mask_{name}": mask[name] for name in (*_STATS, "per_class")})
        out.update(num_images=box["num_images"], num_instances=box["num_instances"])
        return out

    def summary(self) -> str:
        """Readable tables of the box and the mask stats and per-class AP."""
        return f"boxes (bbox)\n{self.box.summary()}\n\nmasks (segm)\n{self.mask.summary()}"


def evaluate_instances(
    images: Sequence[GroundTruthInstances],
    predictions: Sequence[InstancePredictions],
    classes: Sequence[str],
    *,
    out_dir: Path | None,
    category_ids: Sequence[int] | None = None,
    prefix: str = "test",
) -> InstanceMetrics:
    """Write the COCO ground truth and results into ``out_dir``, then evaluate those files twice,
    ``"bbox"`` and ``"segm"``.

    ``out_dir=None`` writes them to a temporary directory that is removed afterwards. Raises
    ``ValueError`` (naming the ``image_id``) on predictions for an unknown image, labels out of
    range, or masks / segmentations whose number or size does not match the boxes and the image.
    """
    cats = _category_ids(classes, category_ids)
    gt = coco_instance_ground_truth(images, classes, cats)
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    unknown = sorted({int(p.image_id) for p in predictions} - set(sizes))
    if unknown:
        raise ValueError(f"predictions for image_id {unknown[:5]} that has no ground truth entry")
    results = coco_instance_results(predictions, cats, image_sizes=sizes)
    with contextlib.ExitStack() as stack:
        out = (
            Path(stack.enter_context(tempfile.TemporaryDirectory())) if out_dir is None else out_dir
        )
        gt_file = write_json(Path(out) / f"{prefix}_ground_truth.json", gt)
        pred_file = write_json(Path(out) / f"{prefix}_predictions.json", results)
        box = run_cocoeval(gt_file, pred_file, "bbox")
        mask = run_cocoeval(gt_file, pred_file, "segm")
    return InstanceMetrics(
        box=metrics_from_cocoeval(box, gt, classes, cats),
        mask=metrics_from_cocoeval(mask, gt, classes, cats),
    )
