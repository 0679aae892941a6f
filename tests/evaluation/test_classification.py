"""classification_report on hand-made logits whose answers are worked out by hand below."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from imgrec.evaluation.classification import ClassificationReport, classification_report

CLASSES = ["a", "b", "c"]
# Eight samples. Confusion matrix (rows true, columns predicted):
#   a: [2, 1, 0]   b: [1, 1, 0]   c: [0, 1, 2]
TARGETS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDS = [0, 0, 1, 1, 0, 2, 2, 1]
# Runner-up class of each sample: the true class for mistakes 2 and 4, not for mistake 7.
SECOND = [1, 2, 0, 0, 1, 0, 1, 0]


def make_logits(preds: list[int], second: list[int], k: int) -> torch.Tensor:
    logits = torch.zeros(len(preds), k)
    for i, (p, s) in enumerate(zip(preds, second, strict=True)):
        logits[i, p] = 3.0
        logits[i, s] = 1.0
    return logits


@pytest.fixture
def report() -> ClassificationReport:
    logits = make_logits(PREDS, SECOND, 3)
    return classification_report(logits, torch.tensor(TARGETS), CLASSES, top_k=(1, 2))


def test_accuracy_and_top_k(report: ClassificationReport) -> None:
    assert report.num_samples == 8
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.top_k == [1, 2]
    assert report.top_k_accuracy[1] == pytest.approx(5 / 8)
    assert report.top_k_accuracy[2] == pytest.approx(7 / 8)


def test_per_class_matches_hand_computation(report: ClassificationReport) -> None:
    precision = [2 / 3, 1 / 3, 1.0]
    recall = [2 / 3, 1 / 2, 2 / 3]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    support = [3, 2, 3]
    for row, name, p, r, f, s in zip(
        report.per_class, CLASSES, precision, recall, f1, support, strict=True
    ):
        assert row.name == name
        assert (row.precision, row.recall, row.f1) == pytest.approx((p, r, f), abs=1e-6)
        assert row.support == s

    def weighted(values: list[float]) -> float:
        return sum(v * s for v, s in zip(values, support, strict=True)) / sum(support)

    assert report.macro_avg.precision == pytest.approx(sum(precision) / 3, abs=1e-6)
    assert report.macro_avg.recall == pytest.approx(sum(recall) / 3, abs=1e-6)
    assert report.macro_avg.f1 == pytest.approx(sum(f1) / 3, abs=1e-6)
    assert report.weighted_avg.precision == pytest.approx(weighted(precision), abs=1e-6)
    assert report.weighted_avg.recall == pytest.approx(weighted(recall), abs=1e-6)
    assert report.weighted_avg.f1 == pytest.approx(weighted(f1), abs=1e-6)
    assert report.macro_avg.support == report.weighted_avg.support == 8


def test_confusion_matrices(report: ClassificationReport) -> None:
    assert report.confusion_matrix == [[2, 1, 0], [1, 1, 0], [0, 1, 2]]
    for row, counts in zip(
        report.confusion_matrix_normalized, report.confusion_matrix, strict=True
    ):
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
        assert row == pytest.approx([c / sum(counts) for c in counts], abs=1e-6)


def test_loss_is_mean_cross_entropy(report: ClassificationReport) -> None:
    logits = make_logits(PREDS, SECOND, 3)
    expected = F.cross_entropy(logits, torch.tensor(TARGETS)).item()
    assert report.loss == pytest.approx(expected, rel=1e-6)


def test_top_losses_ordering(report: ClassificationReport) -> None:
    losses = report.top_losses
    assert len(losses) == 8  # fewer samples than num_top_losses
    assert [t.loss for t in losses] == sorted((t.loss for t in losses), reverse=True)
    # Sample 7's true class scored lowest; samples 2 and 4 tie and keep dataset order.
    assert [t.index for t in losses[:3]] == [7, 2, 4]
    worst = losses[0]
    assert (worst.true_label, worst.true_class) == (2, "c")
    assert (worst.predicted_label, worst.predicted_class) == (1, "b")
    probs = make_logits(PREDS, SECOND, 3)[7].softmax(0)
    assert worst.probability == pytest.approx(probs[1].item(), rel=1e-6)
    assert worst.true_probability == pytest.approx(probs[2].item(), rel=1e-6)
    assert worst.loss == pytest.approx(-math.log(probs[2].item()), rel=1e-6)

    short = classification_report(
        make_logits(PREDS, SECOND, 3), torch.tensor(TARGETS), CLASSES, num_top_losses=2
    )
    assert [t.index for t in short.top_losses] == [7, 2]


def test_absent_class_has_zero_row_and_is_left_out_of_macro() -> None:
    classes = [*CLASSES, "never seen"]
    report = classification_report(
        make_logits(PREDS, SECOND, 4), torch.tensor(TARGETS), classes, top_k=(1,)
    )
    absent = report.per_class[3]
    assert (absent.precision, absent.recall, absent.f1, absent.support) == (0.0, 0.0, 0.0, 0)
    assert report.confusion_matrix[3] == [0, 0, 0, 0]
    assert report.confusion_matrix_normalized[3] == [0.0, 0.0, 0.0, 0.0]
    three = classification_report(make_logits(PREDS, SECOND, 3), torch.tensor(TARGETS), CLASSES)
    assert report.macro_avg.f1 == pytest.approx(three.macro_avg.f1)
    assert report.weighted_avg.f1 == pytest.approx(three.weighted_avg.f1)


def test_calibration_error_of_confident_correct_predictions_is_zero() -> None:
    targets = torch.arange(40) % 4
    logits = 30.0 * F.one_hot(targets, 4).float()
    report = classification_report(logits, targets, list("wxyz"))
    assert report.accuracy == 1.0
    assert report.expected_calibration_error == pytest.approx(0.0, abs=1e-6)
    assert report.calibration_bins == 15


def test_calibration_error_of_overconfident_predictions() -> None:
    # Always 80 % sure of class 0, right half of the time: ECE = |0.8 - 0.5| = 0.3.
    logits = torch.tensor([[math.log(4.0), 0.0]]).repeat(10, 1)
    targets = torch.tensor([0, 1] * 5)
    report = classification_report(logits, targets, ["yes", "no"], calibration_bins=10)
    assert report.expected_calibration_error == pytest.approx(0.3, abs=1e-5)
    assert report.confidences.tolist() == pytest.approx([0.8] * 10)
    assert report.correct.tolist() == [True, False] * 5


def test_top_k_at_or_above_num_classes_is_skipped() -> None:
    report = classification_report(torch.randn(6, 2), torch.tensor([0, 1] * 3), ["x", "y"])
    assert report.top_k == [1]
    assert list(report.to_dict()["top_k_accuracy"]) == ["top_1"]


def test_to_dict_is_json_serialisable(report: ClassificationReport) -> None:
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["classes"] == CLASSES
    assert data["num_classes"] == 3
    assert data["top_k_accuracy"] == {"top_1": 0.625, "top_2": 0.875}
    assert data["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 2]]
    assert data["per_class"][0] == {
        "name": "a",
        "precision": pytest.approx(2 / 3, abs=1e-6),
        "recall": pytest.approx(2 / 3, abs=1e-6),
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 3,
    }
    assert data["top_losses"][0]["index"] == 7
    assert "confidences" not in data


def test_accepts_half_precision_logits_on_any_device() -> None:
    logits = make_logits(PREDS, SECOND, 3).half()
    report = classification_report(logits, torch.tensor(TARGETS, dtype=torch.int32), CLASSES)
    assert report.accuracy == pytest.approx(5 / 8)


@pytest.mark.parametrize(
    ("logits", "targets", "classes", "message"),
    [
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), CLASSES, "0 samples"),
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), CLASSES, r"shape \(N, K\)"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), CLASSES, "4 rows"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), ["a", "b"], "2 class names"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), CLASSES, r"\[0, 2\]"),
        (torch.zeros(4, 3), torch.zeros(4), CLASSES, "integer"),
        (torch.full((4, 3), math.nan), torch.zeros(4, dtype=torch.long), CLASSES, "NaN"),
        (torch.zeros(4, 1), torch.zeros(4, dtype=torch.long), ["a"], "at least 2"),
    ],
)
def test_bad_input_raises(
    logits: torch.Tensor, targets: torch.Tensor, classes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(logits, targets, classes)
