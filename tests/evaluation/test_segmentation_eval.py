"""Segmentation metrics equal hand-computed fractions and an independent numpy count."""

from __future__ import annotations

import csv
import json
import math
from fractions import Fraction as Fr
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from imgrec.evaluation.segmentation import SegmentationEvaluator, SegmentationReport

I = 255  # ignore_index  # noqa: E741  (a one-letter name keeps the masks below readable)
NAMES = ["bg", "a", "b", "c"]

# Image 1. Class 3 ("c") is in neither truth nor prediction (predicting it on ignored pixels does
# not count), class 2 ("b") is in the truth only, two pixels are ignored.
T1 = [[0, 0, 1, 1],
      [0, 0, 1, 1],
      [2, 2, I, I]]  # fmt: skip
P1 = [[0, 1, 1, 1],
      [0, 0, 1, 0],
      [0, 0, 3, 3]]  # fmt: skip
# Confusion (rows true, columns predicted): bg [3, 1, 0, 0], a [1, 3, 0, 0], b [2, 0, 0, 0].
# true pixels [4, 4, 2, 0], predicted [6, 4, 0, 0]; IoU = tp / (true + predicted - tp).
IOU1 = [Fr(3, 7), Fr(3, 5), Fr(0), None]
DICE1 = [Fr(6, 10), Fr(6, 8), Fr(0), None]
ACC1 = [Fr(3, 4), Fr(3, 4), Fr(0), None]
MIOU1 = (Fr(3, 7) + Fr(3, 5) + 0) / 3  # = 12/35: "c" is left out, not 0 and not 1

# Image 2: bg [2, 2, 0, 0], a [0, 8, 0, 0].
T2 = [[1, 1, 1, 1],
      [1, 1, 1, 1],
      [0, 0, 0, 0]]  # fmt: skip
P2 = [[1, 1, 1, 1],
      [1, 1, 1, 1],
      [1, 1, 0, 0]]  # fmt: skip
IMAGE_IOU2 = (Fr(2, 4) + Fr(8, 10)) / 2  # b and c are absent from this image: left out
# Both: bg [5, 3, 0, 0], a [1, 11, 0, 0], b [2, 0, 0, 0]; true [8, 12, 2, 0], predicted
# [8, 14, 0, 0].
IOU12 = [Fr(5, 11), Fr(11, 15), Fr(0), None]
MIOU12 = (Fr(5, 11) + Fr(11, 15)) / 3  # = 196/495, not the mean of the two images' figures


def _t(*masks: list[list[int]]) -> torch.Tensor:
    return torch.tensor(masks)


def _close(value: float | None, expected: Fr | None) -> None:
    if expected is None:
        assert value is None or math.isnan(value)
    else:
        assert value == pytest.approx(float(expected), rel=1e-12, abs=1e-15)


def _evaluate(*batches: tuple[torch.Tensor, torch.Tensor]) -> SegmentationReport:
    evaluator = SegmentationEvaluator(4, NAMES, ignore_index=I)
    for pred, target in batches:
        evaluator.update(pred, target)
    return evaluator.compute()


def test_hand_computed_single_image() -> None:
    report = _evaluate((_t(P1), _t(T1)))
    for row, iou, dice, acc in zip(report.per_class, IOU1, DICE1, ACC1, strict=True):
        _close(row.iou, iou)
        _close(row.dice, dice)
        _close(row.accuracy, acc)
    assert [r.pixels_true for r in report.per_class] == [4, 4, 2, 0]
    assert [r.pixels_predicted for r in report.per_class] == [6, 4, 0, 0]
    _close(report.miou, MIOU1)
    _close(report.miou, Fr(12, 35))
    _close(report.pixel_accuracy, Fr(6, 10))
    _close(report.mean_class_accuracy, (Fr(3, 4) + Fr(3, 4) + 0) / 3)
    _close(report.mean_dice, (Fr(6, 10) + Fr(6, 8) + 0) / 3)
    _close(report.fw_iou, Fr(4, 10) * Fr(3, 7) + Fr(4, 10) * Fr(3, 5))
    assert (report.num_images, report.num_pixels, report.num_ignored_pixels) == (1, 10, 2)
    _close(report.per_image_iou[0], MIOU1)


@pytest.mark.parametrize("split", ["one batch", "two batches"])
def test_accumulates_the_split_not_per_batch_means(split: str) -> None:
    if split == "one batch":
        report = _evaluate((_t(P1, P2), _t(T1, T2)))
    else:
        report = _evaluate((_t(P1), _t(T1)), (_t(P2), _t(T2)))
    for row, iou in zip(report.per_class, IOU12, strict=True):
        _close(row.iou, iou)
    _close(report.miou, MIOU12)
    _close(report.pixel_accuracy, Fr(16, 22))
    _close(report.mean_dice, (Fr(10, 16) + Fr(22, 26)) / 3)
    _close(report.fw_iou, Fr(8, 22) * Fr(5, 11) + Fr(12, 22) * Fr(11, 15))
    assert report.miou != pytest.approx(float((MIOU1 + IMAGE_IOU2) / 2))
    _close(report.per_image_iou[0], MIOU1)
    _close(report.per_image_iou[1], IMAGE_IOU2)
    assert report.worst_images() == [0, 1]
    assert report.confusion_matrix.tolist() == [[5, 3, 0, 0], [1, 11, 0, 0], [2, 0, 0, 0], [0] * 4]
    assert report.confusion_matrix_normalized[3].tolist() == [0.0] * 4


def test_logits_and_indices_give_the_same_report() -> None:
    logits = torch.randn(3, 4, 9, 7)
    target = torch.randint(0, 4, (3, 9, 7))
    target[:, 0] = I
    by_logits = _evaluate((logits, target)).to_dict()
    by_index = _evaluate((logits.argmax(dim=1).to(torch.uint8), target.to(torch.uint8))).to_dict()
    assert by_logits == by_index


def _numpy_reference(pred: np.ndarray, target: np.ndarray, k: int) -> dict[str, Any]:
    """Per-class boolean masks, no confusion matrix and no torch."""
    valid = target != I
    inter = np.array([((pred == c) & (target == c) & valid).sum() for c in range(k)], float)
    union = np.array([(((pred == c) | (target == c)) & valid).sum() for c in range(k)], float)
    true = np.array([((target == c) & valid).sum() for c in range(k)], float)
    iou = [i / u if u else math.nan for i, u in zip(inter, union, strict=True)]
    images = []
    for p, t in zip(pred, target, strict=True):
        v = t != I
        per = [
            (((p == c) & (t == c) & v).sum(), (((p == c) | (t == c)) & v).sum()) for c in range(k)
        ]
        images.append(np.mean([i / u for i, u in per if u]) if any(u for _, u in per) else math.nan)
    return {
        "iou": iou,
        "miou": np.nanmean(iou),
        "pixel_accuracy": inter.sum() / valid.sum(),
        "mean_class_accuracy": np.mean([i / n for i, n in zip(inter, true, strict=True) if n]),
        "fw_iou": sum(n / valid.sum() * i for n, i in zip(true, iou, strict=True) if n),
        "per_image_iou": images,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_an_independent_numpy_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 6
    target = rng.integers(0, k - 2, size=(10, 13, 17))  # class 4 predicted only, 5 never
    target[rng.random(target.shape) < 0.1] = I
    target[3] = I  # an image with nothing counted: its IoU is NaN
    noise = rng.integers(0, k - 1, size=target.shape)
    pred = np.where(rng.random(target.shape) < 0.6, np.where(target == I, 0, target), noise)
    evaluator = SegmentationEvaluator(k, [f"c{i}" for i in range(k)], ignore_index=I)
    for start in range(0, 10, 4):  # batches of 4, 4 and 2
        batch = slice(start, start + 4)
        evaluator.update(torch.from_numpy(pred[batch]), torch.from_numpy(target[batch]))
    report = evaluator.compute()
    ref = _numpy_reference(pred, target, k)
    np.testing.assert_allclose([r.iou for r in report.per_class], ref["iou"], rtol=1e-12)
    assert math.isnan(report.per_class[5].iou) and report.per_class[4].iou == 0.0
    for name in ("miou", "pixel_accuracy", "mean_class_accuracy", "fw_iou"):
        assert getattr(report, name) == pytest.approx(ref[name], rel=1e-12), name
    np.testing.assert_allclose(report.per_image_iou, ref["per_image_iou"], rtol=1e-12)
    assert report.worst_images()[-1] == 3  # NaN last
    assert report.num_ignored_pixels == int((target == I).sum())


def test_json_and_csv_have_null_not_nan(tmp_path: Path) -> None:
    report = _evaluate((_t(P1, P2), _t(T1, T2)))
    paths = report.write(tmp_path / "run")
    text = paths["segmentation_metrics.json"].read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert data == json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert "left out" in data["convention"]
    absent = {"name": "c", "iou": None, "dice": None, "accuracy": None}
    assert data["per_class"][3] == {**absent, "pixels_true": 0, "pixels_predicted": 0}
    assert data["miou"] == pytest.approx(float(MIOU12))
    assert len(data["per_image_iou"]) == 2
    rows = list(csv.reader(paths["per_class_iou.csv"].read_text().splitlines()))
    assert rows[0] == ["class", "iou", "dice", "accuracy", "pixels_true", "pixels_predicted"]
    assert rows[4] == ["c", "", "", "", "0", "0"]
    assert rows[5][0] == "mean" and float(rows[5][1]) == pytest.approx(float(MIOU12))
    summary = report.summary()
    assert "n/a" in summary and "miou" in summary and "mean_dice" in summary


def test_all_ignored_and_empty_batches_give_undefined_figures() -> None:
    report = _evaluate((torch.zeros(2, 3, 4, dtype=torch.long), torch.full((2, 3, 4), I)))
    assert all(math.isnan(r.iou) for r in report.per_class)
    assert math.isnan(report.miou) and math.isnan(report.pixel_accuracy)
    assert json.dumps(report.to_dict(), allow_nan=False)
    empty = _evaluate(
        (torch.zeros(0, 3, 4, dtype=torch.long), torch.zeros(0, 3, 4, dtype=torch.long))
    )
    assert empty.num_images == 0 and math.isnan(empty.miou)


def test_deterministic_mode_is_restored() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        report = _evaluate((_t(P1), _t(T1)))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
    _close(report.miou, MIOU1)


_L = torch.zeros(1, 3, 4, dtype=torch.long)  # a valid (B, H, W) label batch


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        (_L.float(), _L, "pred must be an integer"),
        (_L, _L.float(), "target must be an integer"),
        (torch.zeros(1, 5, 3, 4), _L, "5 channels"),
        (torch.zeros(1, 4, 3, 4, dtype=torch.long), _L, "must be float logits"),
        (_L, _L[0], "B, H, W"),
        (torch.zeros(1, 3, 5, dtype=torch.long), _L, "match"),
        (_L + 4, _L, r"pred must lie in \[0, 3\]"),
        (_L, _L + 7, "target must lie"),
    ],
)
def test_bad_input_raises(pred: torch.Tensor, target: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SegmentationEvaluator(4, NAMES).update(pred, target)


def test_bad_construction_and_compute_before_update_raise() -> None:
    with pytest.raises(ValueError, match="class index"):
        SegmentationEvaluator(4, NAMES, ignore_index=0)
    with pytest.raises(ValueError, match="3 class names"):
        SegmentationEvaluator(4, NAMES[:3])
    evaluator = SegmentationEvaluator(4, NAMES)
    with pytest.raises(ValueError, match="update"):
        evaluator.compute()
    evaluator.update(_t(P1), _t(T1))
    evaluator.reset()
    with pytest.raises(ValueError, match="update"):
        evaluator.compute()
