"""COCO instance (mask) metrics equal a fresh pycocotools run on the saved files."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from imgrec.evaluation.detection import DetectionMetrics, run_cocoeval
from imgrec.evaluation.instances import (
    GroundTruthInstances,
    InstanceMetrics,
    InstancePredictions,
    coco_instance_ground_truth,
    encode_mask,
    evaluate_instances,
)

CLASSES = ["cat", "dog", "bird", "car"]  # "car" is never in the ground truth
CAT_IDS = [1, 3, 7, 90]
STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large")
STATS += ("ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")
ALL_AREAS = (0, 1, 2, 6, 7, 8)  # the stats that do not split by area
H, W = 20, 30
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _rect(h: int, w: int, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def _disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.asarray((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r)


def _box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _uncompressed(mask: np.ndarray) -> dict[str, object]:
    """COCO's uncompressed RLE: column-major run lengths, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"size": list(mask.shape), "counts": ([0] if flat[0] else []) + runs}


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    src = mask[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    out[max(dy, 0) : h - max(-dy, 0), max(dx, 0) : w - max(-dx, 0)] = src
    return out


def _image(image_id: int, h: int, w: int, objects: list[tuple], crowd=None) -> GroundTruthInstances:
    boxes = np.array([o[0] for o in objects], dtype=float).reshape(-1, 4)
    labels = np.array([o[1] for o in objects], dtype=int)
    segms = [o[2] for o in objects]
    return GroundTruthInstances(
        image_id, f"{image_id}.jpg", w, h, boxes, labels, crowd, segmentations=segms
    )


def _ground_truth() -> list[GroundTruthInstances]:
    """Polygons, compressed / uncompressed RLE, boolean masks, a crowd region, an empty image,
    and a 140x160 image with medium and large objects (the 20x30 ones are all small)."""
    disc, crowd, rect = (
        _disc(H, W, 22, 10, 6),
        _rect(H, W, 0, 0, 15, 20),
        _rect(H, W, 18, 4, 28, 16),
    )
    big_disc, big_rect = _disc(140, 160, 30, 30, 20), _rect(140, 160, 60, 10, 160, 110)
    return [
        _image(1, H, W, [([2, 3, 12, 13], 0, [[2, 3, 12, 3, 12, 13, 2, 13]]),
                         (_box(disc), 1, encode_mask(disc))]),
        _image(2, H, W, [(_box(crowd), 0, _uncompressed(crowd)), (_box(rect), 0, rect),
                         ([16, 12, 29, 18], 2, [[16, 18, 29, 18, 22, 12]])],
               crowd=np.array([1, 0, 0])),
        _image(3, H, W, []),
        _image(4, H, W, [([5, 5, 15, 12], 1, [[5, 5, 15, 5, 15, 12, 5, 12]])]),
        _image(5, 140, 160, [(_box(big_disc), 0, encode_mask(big_disc)),
                             (_box(big_rect), 1, _uncompressed(big_rect)),
                             ([125, 120, 135, 130], 2, [[125, 120, 135, 120, 130, 130]])]),
    ]  # fmt: skip


def _true_masks(images: list[GroundTruthInstances]) -> dict[int, list[np.ndarray]]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = coco_instance_ground_truth(images, CLASSES)
        coco.createIndex()
    return {i: [coco.annToMask(a) > 0 for a in coco.imgToAnns[i]] for i in coco.getImgIds()}


def _predictions(seed: int, images: list[GroundTruthInstances]) -> list[InstancePredictions]:
    """Jittered true instances, junk (120 on image 1, some in the crowd region), a false
    positive whose mask is small but box medium, no predictions for image 4."""
    rng, true_masks, preds = np.random.default_rng(seed), _true_masks(images), []
    for im in images:
        if im.image_id == 4:
            continue
        boxes, labels, masks = [], [], []
        truth = zip(im.boxes, im.labels, im.crowd(), true_masks[im.image_id], strict=True)
        for box, label, crowd, m in truth:
            if crowd or rng.random() < 0.15:
                continue
            boxes.append(box + rng.normal(0, 0.5, 4))
            labels.append(label if rng.random() < 0.9 else (label + 1) % 4)
            masks.append(_shift(m, *rng.integers(-1, 2, size=2)))
        h, w = im.height, im.width
        for _ in range({1: 120, 2: 6, 3: 3}.get(im.image_id, 0)):
            x, y = int(rng.integers(0, w - 4)), int(rng.integers(0, h - 4))
            m = _rect(h, w, x, y, x + int(rng.integers(2, 9)), y + int(rng.integers(2, 9)))
            boxes.append(_box(m))
            labels.append(int(rng.integers(0, 4)))
            masks.append(m)
        if im.image_id == 5:
            m = _disc(h, w, 30, 100, 18)  # 1020 pixels (small), its box 36x36 (medium)
            boxes.append(_box(m))
            labels.append(0)
            masks.append(m)
        boxes_, masks_ = np.array(boxes).reshape(-1, 4), np.array(masks).reshape(-1, h, w)
        scores = rng.random(len(boxes))
        preds.append(InstancePredictions(im.image_id, boxes_, scores, np.array(labels), masks_))
    return preds


def _reference(out: Path, iou_type: str, *, keep_bbox: bool = False, cat_ids=None) -> np.ndarray:
    """A direct pycocotools run; ``"segm"`` drops the results' bbox unless ``keep_bbox``."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(out / "test_ground_truth.json"))
        pred_file = out / "test_predictions.json"
        if iou_type == "bbox" or keep_bbox:
            dt = gt.loadRes(str(pred_file))
        else:
            results = json.loads(pred_file.read_text())
            dt = gt.loadRes([{k: v for k, v in r.items() if k != "bbox"} for r in results])
        ev = COCOeval(gt, dt, iouType=iou_type)
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def _assert_matches(metrics: DetectionMetrics, stats: np.ndarray, which=range(12)) -> None:
    for i in which:
        ours, ref = getattr(metrics, STATS[i]), stats[i]
        assert ours is None if ref <= -1 else ours == pytest.approx(ref, abs=1e-12), STATS[i]


@pytest.mark.parametrize(("seed", "cat_ids"), [(0, CAT_IDS), (1, [90, 7, 1, 3]), (2, None)])
def test_matches_pycocotools_on_saved_files(tmp_path: Path, seed: int, cat_ids) -> None:
    images = _ground_truth()
    preds = _predictions(seed, images)
    metrics = evaluate_instances(images, preds, CLASSES, out_dir=tmp_path, category_ids=cat_ids)
    assert isinstance(metrics, InstanceMetrics)
    _assert_matches(metrics.box, _reference(tmp_path, "bbox"))
    _assert_matches(metrics.mask, _reference(tmp_path, "segm"))
    # the same file with its bbox kept: equal over all areas (only small/medium/large move)
    _assert_matches(metrics.mask, _reference(tmp_path, "segm", keep_bbox=True), ALL_AREAS)
    for m in (metrics.box, metrics.mask):
        assert None not in (m.map_small, m.map_medium, m.map_large)
        assert m.num_images == 5 and m.num_instances == 8
    cats = cat_ids or [1, 2, 3, 4]
    for kind, m in (("bbox", metrics.box), ("segm", metrics.mask)):
        for row, c in zip(m.per_class, cats, strict=True):
            ref = _reference(tmp_path, kind, cat_ids=[c])
            if row["class"] == "car":
                assert row["ap"] is None and row["instances"] == 0
            else:
                assert row["ap"] == pytest.approx(ref[0], abs=1e-12)
                assert row["ap50"] == pytest.approx(ref[1], abs=1e-12)
    results = json.loads((tmp_path / "test_predictions.json").read_text())
    assert len(results) == sum(len(p.scores) for p in preds)
    assert sum(r["image_id"] == 1 for r in results) > 100
    assert all(isinstance(r["segmentation"]["counts"], str) for r in results)
    d = metrics.to_dict()
    assert d["map"] == metrics.box.map and d["mask_map"] == metrics.mask.map
    assert d["mask_map75"] == metrics.mask.map75 and d["mask_ar_large"] == metrics.mask.ar_large
    assert d["mask_per_class"] == metrics.mask.per_class and d["per_class"] == metrics.box.per_class
    assert (d["num_images"], d["num_instances"]) == (5, 8)
    assert '"mask_map"' in json.dumps(d, allow_nan=False)
    assert "masks (segm)" in metrics.summary() and "boxes (bbox)" in metrics.summary()


def test_area_is_mask_area_masks_as_rle_and_out_dir_none(tmp_path: Path) -> None:
    images = _ground_truth()
    preds = _predictions(3, images)
    as_bytes = lambda m: mask_utils.encode(np.asfortranarray(m, np.uint8))  # noqa: E731
    forms = (encode_mask, as_bytes, _uncompressed)  # RLE counts as str, bytes, list[int]
    as_rle = [
        InstancePredictions(p.image_id, p.boxes, p.scores, p.labels,
                            [forms[i % 3](m) for i, m in enumerate(np.asarray(p.masks))])
        for p in preds
    ]  # fmt: skip
    a = evaluate_instances(images, as_rle, CLASSES, out_dir=None)
    assert a.to_dict() == evaluate_instances(images, preds, CLASSES, out_dir=tmp_path).to_dict()
    saved = (tmp_path / "test_predictions.json").read_text()
    evaluate_instances(images, as_rle, CLASSES, out_dir=tmp_path)
    assert (tmp_path / "test_predictions.json").read_text() == saved
    gt = json.loads((tmp_path / "test_ground_truth.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "test_ground_truth.json"))
    for ann in gt["annotations"]:
        assert ann["area"] == float(mask_utils.area(coco.annToRLE(ann)))
    disc = gt["annotations"][1]
    assert disc["segmentation"] == encode_mask(_disc(H, W, 22, 10, 6))
    assert disc["area"] == _disc(H, W, 22, 10, 6).sum() != disc["bbox"][2] * disc["bbox"][3]
    assert gt["annotations"][2]["iscrowd"] == 1 and gt["annotations"][2]["area"] == 300
    assert gt["annotations"][3]["segmentation"] == encode_mask(_rect(H, W, 18, 4, 28, 16))


def test_mask_evaluation_takes_areas_from_masks(tmp_path: Path) -> None:
    small = _disc(140, 160, 120, 40, 8)
    fp = _disc(140, 160, 30, 100, 18)  # 1020 pixels (small), its box 36x36 (medium)
    gt = _image(1, 140, 160, [(_box(small), 0, small)])
    boxes, masks = np.array([_box(fp), _box(small)]), np.stack([fp, small])
    pred = InstancePredictions(1, boxes, np.array([0.9, 0.5]), np.array([0, 0]), masks)
    metrics = evaluate_instances([gt], [pred], CLASSES[:1], out_dir=tmp_path)
    _assert_matches(metrics.mask, _reference(tmp_path, "segm"))
    assert metrics.mask.map_small == pytest.approx(0.5)  # the false positive counts
    assert metrics.box.map_small == pytest.approx(1.0)  # by its box it is medium: ignored
    naive = _reference(tmp_path, "segm", keep_bbox=True)
    assert naive[3] == pytest.approx(1.0)  # what loadRes gives when the bbox is kept
    _assert_matches(metrics.mask, naive, ALL_AREAS)


def test_perfect_masks_and_shifted_masks(tmp_path: Path) -> None:
    images = _ground_truth()
    true_masks = _true_masks(images)
    perfect = []
    for im in images:
        keep = ~im.crowd()
        masks = np.array(true_masks[im.image_id]).reshape(-1, im.height, im.width)[keep]
        scores = np.ones(int(keep.sum()))
        perfect.append(
            InstancePredictions(im.image_id, im.boxes[keep], scores, im.labels[keep], masks)
        )
    metrics = evaluate_instances(images, perfect, CLASSES, out_dir=tmp_path)
    for m in (metrics.box, metrics.mask):
        for name in ("map", "map50", "map75", "map_small", "map_medium", "map_large", "ar100"):
            assert getattr(m, name) == pytest.approx(1.0), name
    # shift one 10-pixel-wide mask by 5 pixels: IoU 1/3; the box stays right
    box = np.array([[2.25, 3.0, 12.0, 13.5]])
    gt = _image(1, H, W, [(box[0], 0, _rect(H, W, 2, 3, 12, 13))])
    half = _rect(H, W, 7, 3, 17, 13)[None]
    shifted = InstancePredictions(1, box, np.array([0.9]), np.array([0]), half)
    metrics = evaluate_instances([gt], [shifted], CLASSES[:1], out_dir=tmp_path)
    assert metrics.box.map == pytest.approx(1.0)
    assert metrics.mask.map == 0.0 and metrics.mask.map50 == 0.0
    _assert_matches(metrics.box, _reference(tmp_path, "bbox"))
    _assert_matches(metrics.mask, _reference(tmp_path, "segm"))
    (result,) = json.loads((tmp_path / "test_predictions.json").read_text())
    assert result["bbox"] == [2.25, 3.0, 9.75, 10.5]  # the given box, not the mask's
    assert list(mask_utils.toBbox(result["segmentation"])) == [7, 3, 10, 10]


def test_more_than_100_predictions_and_no_predictions(tmp_path: Path) -> None:
    m = _rect(H, W, 2, 2, 12, 12)
    gt = _image(1, H, W, [(_box(m), 0, m)])
    junk = np.repeat(_rect(H, W, 20, 10, 28, 18)[None], 150, axis=0)
    masks = np.concatenate([junk, m[None]])
    boxes = np.array([_box(junk[0])] * 150 + [_box(m)])
    scores = np.concatenate([np.linspace(0.9, 0.5, 150), [0.4]])  # the true one scores lowest
    pred = InstancePredictions(1, boxes, scores, np.zeros(151, dtype=int), masks)
    metrics = evaluate_instances([gt], [pred], CLASSES[:1], out_dir=tmp_path)
    assert len(json.loads((tmp_path / "test_predictions.json").read_text())) == 151
    _assert_matches(metrics.mask, _reference(tmp_path, "segm"))
    assert metrics.mask.ar100 == 0.0 and metrics.box.ar100 == 0.0  # the best 100 only
    empty = InstancePredictions(1, np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros((0, H, W)))
    for preds in ([], [empty]):
        metrics = evaluate_instances([gt], preds, CLASSES[:1], out_dir=tmp_path)
        assert metrics.mask.map == 0.0 and metrics.box.map == 0.0
        assert json.loads((tmp_path / "test_predictions.json").read_text()) == []


def test_bad_input_raises() -> None:
    images = _ground_truth()
    m = _rect(H, W, 2, 2, 12, 12)
    box, one, zero = np.array([_box(m)]), np.array([0.5]), np.array([0])

    def check(gt: list[GroundTruthInstances], pred: InstancePredictions, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            evaluate_instances(gt, [pred], CLASSES, out_dir=None)

    for image_id, labels, masks, match in (
        (99, zero, m[None], "image_id \\[99\\]"),
        (1, np.array([4]), m[None], "image_id 1: labels"),
        (1, zero, np.stack([m, m]), "image_id 1: masks must be \\(M, H, W\\)"),
        (1, zero, m[None, :, :-1], "image_id 1: masks are"),
        (5, zero, m[None], "image_id 5: masks are"),
        (1, zero, m[None] * 0.7, "image_id 1: masks must be boolean"),
        (1, zero, [encode_mask(m)] * 2, "image_id 1: got 2 mask RLEs for 1 boxes"),
        (1, zero, [encode_mask(m[:, 1:])], "image_id 1: RLE size \\[20, 29\\]"),
    ):
        check(images, InstancePredictions(image_id, box, one, labels, masks), match)
    no_pred = InstancePredictions(1, box, one, zero, m[None])
    rle = encode_mask(np.zeros((H + 1, W), dtype=bool))
    for segms, match in (
        ([], "image_id 7: got 0 segmentations for 1 boxes"),
        ([rle], "image_id 7: RLE size"),
        ([[[1, 1, 5, 5]]], "image_id 7: a segmentation must be"),
        ([{"size": [H, W], "counts": [3, 4]}], "image_id 7: uncompressed RLE"),
        ([np.zeros((H, W + 1), dtype=bool)], "image_id 7: a \\(20, 31\\) mask"),
        ([np.full((H, W), 2, dtype=np.uint8)], "image_id 7: a mask must be boolean"),
    ):
        bad = GroundTruthInstances(7, "7.jpg", W, H, box, zero, segmentations=segms)
        check([*images, bad], no_pred, match)
    with pytest.raises(ValueError, match="iou_type"):
        run_cocoeval("gt.json", "pred.json", "keypoints")  # type: ignore[arg-type]
