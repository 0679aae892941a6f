"""COCO detection metrics equal a fresh pycocotools run on the saved files; plots write PNGs."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from imgrec.evaluation.detection import (
    DetectionMetrics,
    GroundTruthImage,
    ImagePredictions,
    detection_confusion_matrix,
    evaluate_detections,
    run_cocoeval,
)
from imgrec.evaluation.detection_plots import (
    plot_detection_confusion,
    plot_detection_grid,
    plot_pr_curves,
)

CLASSES = ["cat", "dog", "bird", "car"]
CAT_IDS = [1, 3, 7, 90]
STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large")
STATS += ("ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


def _reference(out: Path, prefix: str = "test", cat_ids: list[int] | None = None) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(out / f"{prefix}_ground_truth.json"))
        dt = gt.loadRes(str(out / f"{prefix}_predictions.json"))
        ev = COCOeval(gt, dt, iouType="bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def _assert_matches(metrics: DetectionMetrics, stats: np.ndarray) -> None:
    for name, ref in zip(STATS, stats, strict=True):
        ours = getattr(metrics, name)
        if ref <= -1:
            assert ours is None, name
        else:
            assert ours == pytest.approx(ref, abs=1e-4), name


def _random_boxes(rng: np.random.Generator, n: int, size: int = 640) -> np.ndarray:
    side = rng.choice([12.0, 60.0, 200.0], size=n) * rng.uniform(0.7, 1.3, size=(n, 2)).T
    xy = rng.uniform(0, size - 260, size=(n, 2))
    return np.column_stack([xy, xy + side.T])


def _fixture(seed: int = 0) -> tuple[list[GroundTruthImage], list[ImagePredictions]]:
    """Images of every size range, crowd regions, empty images, one with 150 detections."""
    rng = np.random.default_rng(seed)
    images, preds = [], []
    for i in range(12):
        n = 0 if i in (3, 7) else int(rng.integers(1, 8))
        boxes = _random_boxes(rng, n)
        labels = rng.integers(0, 3, size=n)  # class 3 ("car") never in the ground truth
        crowd = np.zeros(n, dtype=bool)
        if i == 5 and n:
            crowd[0] = True
        images.append(GroundTruthImage(10 + i, f"{i}.jpg", 640, 640, boxes, labels, crowd))
        keep = rng.random(n) < 0.8
        m = 150 if i == 9 else int(rng.integers(0, 6))
        p_boxes = np.vstack([boxes[keep] + rng.normal(0, 3, size=(keep.sum(), 4)),
                             _random_boxes(rng, m)])  # fmt: skip
        p_boxes[:, 2:] = np.maximum(p_boxes[:, 2:], p_boxes[:, :2] + 1)
        p_labels = np.concatenate([labels[keep], rng.integers(0, 4, size=m)])
        p_labels[rng.random(len(p_labels)) < 0.1] = 1
        scores = rng.random(len(p_boxes))
        preds.append(ImagePredictions(10 + i, p_boxes, scores, p_labels))
    return images, preds


@pytest.mark.parametrize(("seed", "cat_ids"), [(0, CAT_IDS), (1, CAT_IDS), (2, [90, 7, 1, 3])])
def test_matches_pycocotools_on_saved_files(tmp_path: Path, seed: int, cat_ids: list[int]) -> None:
    images, preds = _fixture(seed)
    metrics = evaluate_detections(
        images, preds, CLASSES, out_dir=tmp_path, category_ids=cat_ids, prefix="val"
    )
    _assert_matches(metrics, _reference(tmp_path, "val"))
    assert None not in (metrics.map_small, metrics.map_medium, metrics.map_large)
    assert metrics.num_images == 12
    assert metrics.num_instances == sum(int((~im.crowd()).sum()) for im in images)
    gt = json.loads((tmp_path / "val_ground_truth.json").read_text())
    assert [c["id"] for c in gt["categories"]] == cat_ids
    assert [a["id"] for a in gt["annotations"]] == list(range(1, len(gt["annotations"]) + 1))
    for row, c in zip(metrics.per_class, cat_ids, strict=True):
        assert row["category_id"] == c
        reference = _reference(tmp_path, "val", cat_ids=[c])
        if row["class"] == "car":
            assert row["ap"] is None and row["ap50"] is None and row["instances"] == 0
        else:
            assert row["ap"] == pytest.approx(reference[0], abs=1e-4)
            assert row["ap50"] == pytest.approx(reference[1], abs=1e-4)
    text = json.dumps(metrics.to_dict(), allow_nan=False)
    assert '"ap": null' in text
    assert "car" in metrics.summary()


def test_same_numbers_from_files_and_out_dir_none(tmp_path: Path) -> None:
    images, preds = _fixture(2)
    a = evaluate_detections(images, preds, CLASSES, out_dir=tmp_path, category_ids=CAT_IDS)
    b = evaluate_detections(images, preds, CLASSES, out_dir=None, category_ids=CAT_IDS)
    assert a.to_dict() == b.to_dict()
    ev = run_cocoeval(tmp_path / "test_ground_truth.json", tmp_path / "test_predictions.json")
    assert ev.stats[0] == pytest.approx(a.map, abs=1e-12)


def test_perfect_predictions_and_label_shift() -> None:
    images, _ = _fixture(3)
    perfect = [
        ImagePredictions(im.image_id, im.boxes, np.ones(len(im.labels)), im.labels) for im in images
    ]
    metrics = evaluate_detections(images, perfect, CLASSES, out_dir=None)
    assert metrics.map == pytest.approx(1.0)
    assert metrics.map50 == pytest.approx(1.0)
    for name in ("map_small", "map_medium", "map_large", "ar100"):
        assert getattr(metrics, name) == pytest.approx(1.0), name
    assert metrics.per_class[0]["ap"] == pytest.approx(1.0)
    shifted = [
        ImagePredictions(p.image_id, p.boxes, p.scores, (np.asarray(p.labels) + 1) % 4)
        for p in perfect
    ]
    # random boxes overlap a little, so a shifted label is rarely, not never, right
    assert evaluate_detections(images, shifted, CLASSES, out_dir=None).map < 0.02


def test_crowd_region_detections_are_ignored() -> None:
    box, crowd_box = np.array([[10.0, 10.0, 110.0, 110.0]]), np.array([[300.0, 300, 500, 500]])
    gt = GroundTruthImage(
        1, "a.jpg", 640, 480, np.vstack([box, crowd_box]), np.array([0, 0]), np.array([0, 1])
    )
    inside = np.array([[320.0, 320, 400, 400]])
    pred = ImagePredictions(1, np.vstack([inside, box]), np.array([0.9, 0.8]), np.array([0, 0]))
    metrics = evaluate_detections([gt], [pred], CLASSES[:1], out_dir=None)
    assert metrics.map == pytest.approx(1.0)
    assert metrics.num_instances == 1


def test_empty_predictions_give_zero(tmp_path: Path) -> None:
    images, _ = _fixture(4)
    empty = [
        ImagePredictions(im.image_id, np.zeros((0, 4)), np.zeros(0), np.zeros(0)) for im in images
    ]
    for preds in ([], empty):
        metrics = evaluate_detections(images, preds, CLASSES, out_dir=tmp_path)
        assert metrics.map == 0.0 and metrics.ar100 == 0.0
        assert metrics.per_class[3]["ap"] is None and metrics.per_class[0]["ap"] == 0.0
        assert json.loads((tmp_path / "test_predictions.json").read_text()) == []


def test_no_ground_truth_at_all() -> None:
    images = [GroundTruthImage(1, "a.jpg", 64, 64, np.zeros((0, 4)), np.zeros(0))]
    preds = [ImagePredictions(1, np.array([[1.0, 1, 9, 9]]), np.array([0.5]), np.array([0]))]
    metrics = evaluate_detections(images, preds, CLASSES, out_dir=None)
    assert metrics.map is None and metrics.num_instances == 0


def test_bad_input_raises() -> None:
    images, preds = _fixture(0)
    stray = ImagePredictions(999, preds[0].boxes, preds[0].scores, preds[0].labels)
    with pytest.raises(ValueError, match="image_id"):
        evaluate_detections(images, [stray], CLASSES, out_dir=None)
    bad = [GroundTruthImage(1, "a", 9, 9, np.array([[5.0, 5, 1, 1]]), np.array([0]))]
    with pytest.raises(ValueError, match="x2 >= x1"):
        evaluate_detections(bad, [], CLASSES, out_dir=None)
    with pytest.raises(ValueError, match="category_ids"):
        evaluate_detections(images, preds, CLASSES, out_dir=None, category_ids=[1, 1, 2, 3])


def test_confusion_matrix_hand_made() -> None:
    gt = GroundTruthImage(
        1,
        "a.jpg",
        100,
        100,
        np.array([[0.0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [70, 70, 90, 90]]),
        np.array([0, 1, 1, 0]),
        np.array([False, False, False, True]),
    )
    pred = ImagePredictions(
        1,
        np.array([[0.0, 0, 10, 10], [20, 20, 30, 31], [80, 0, 90, 10], [72, 72, 88, 88],
                  [0.0, 0, 10, 9], [50, 50, 60, 60]]),
        np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1]),
        np.array([0, 0, 1, 1, 0, 1]),
    )  # fmt: skip
    m = detection_confusion_matrix([gt], [pred], 2)
    expected = np.array([[1, 0, 0], [1, 0, 1], [1, 1, 0]])
    # cat->cat; dog predicted cat; dog at (50, 50) missed (its prediction scores 0.1);
    # false positives: cat duplicate, dog in the empty corner; the crowd hit is ignored.
    np.testing.assert_array_equal(m, expected)
    assert m.shape == (3, 3)


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_plots_write_png(tmp_path: Path) -> None:
    images, preds = _fixture(5)
    metrics = evaluate_detections(images, preds, CLASSES, out_dir=None, category_ids=CAT_IDS)
    _assert_png(plot_pr_curves(metrics.pr_curves, CLASSES, tmp_path / "pr.png"))
    matrix = detection_confusion_matrix(images, preds, len(CLASSES))
    _assert_png(plot_detection_confusion(matrix, CLASSES, tmp_path / "cm.png"))
    rng = np.random.default_rng(0)
    samples = [
        (rng.integers(0, 255, (640, 640, 3), dtype=np.uint8), im.boxes, im.labels, p.boxes,
         p.scores, p.labels, f"image {im.image_id}")
        for im, p in zip(images[:5], preds[:5], strict=True)
    ]  # fmt: skip
    _assert_png(plot_detection_grid(samples, CLASSES, tmp_path / "grid.png", max_images=4))
    _assert_png(plot_detection_grid([], CLASSES, tmp_path / "empty.png"))


def test_more_than_100_detections_per_image_are_not_pre_truncated(tmp_path: Path) -> None:
    box = np.array([[100.0, 100.0, 200.0, 200.0]])
    gt = GroundTruthImage(1, "a.jpg", 640, 640, box, np.array([0]))
    junk = np.tile([[400.0, 400.0, 450.0, 450.0]], (150, 1)) + np.arange(150)[:, None] * 0.1
    scores = np.concatenate([np.linspace(0.9, 0.5, 150), [0.4]])  # the true box scores lowest
    pred = ImagePredictions(1, np.vstack([junk, box]), scores, np.zeros(151, dtype=int))
    metrics = evaluate_detections([gt], [pred], CLASSES[:1], out_dir=tmp_path)
    assert len(json.loads((tmp_path / "test_predictions.json").read_text())) == 151
    _assert_matches(metrics, _reference(tmp_path))
    assert metrics.ar100 == 0.0  # pycocotools keeps the 100 best-scoring ones per image
    scores[-1] = 0.95
    better = ImagePredictions(1, pred.boxes, scores, pred.labels)
    metrics = evaluate_detections([gt], [better], CLASSES[:1], out_dir=tmp_path)
    _assert_matches(metrics, _reference(tmp_path))
    assert metrics.map == pytest.approx(1.0)
