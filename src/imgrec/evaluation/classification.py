"""Classification metric report from a whole evaluation set's logits and targets.

Every metric that torchmetrics defines comes from ``torchmetrics.functional``; this module only
validates the inputs, calls it once per metric and arranges the numbers into a
:class:`ClassificationReport` whose :meth:`~ClassificationReport.to_dict` is JSON-ready.

Conventions (worth knowing when reading the numbers):

- A class with no true samples (support 0) gets recall 0 and, if it was never predicted either,
  precision 0 and F1 0 (``zero_division=0``, as scikit-learn's default).
- The macro average follows torchmetrics: a class that is neither present in the targets nor
  predicted (``tp + fp + fn == 0``) is left out of the mean instead of counting as 0. The
  weighted average weights by support, so such a class has no weight there either.
- The normalised confusion matrix divides each row by its support; the row of an absent class is
  all zeros (not NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "AverageMetrics",
    "ClassMetrics",
    "ClassificationReport",
    "TopLoss",
    "classification_report",
]


@dataclass(frozen=True)
class ClassMetrics:
    """One row of the per-class table."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class AverageMetrics:
    """A macro or weighted average over classes; ``support`` is the number of samples."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class TopLoss:
    """One of the samples the model got most wrong (highest cross-entropy)."""

    index: int
    true_label: int
    true_class: str
    predicted_label: int
    predicted_class: str
    probability: float  # probability of the predicted class
    true_probability: float  # probability of the true class
    loss: float


@dataclass(frozen=True)
class ClassificationReport:
    """Everything :func:`classification_report` measured.

    ``confidences`` and ``correct`` (one entry per sample) feed the reliability diagram; they are
    left out of :meth:`to_dict` so that ``metrics.json`` stays small.
    """

    classes: list[str]
    num_samples: int
    loss: float
    accuracy: float
    top_k: list[int]
    top_k_accuracy: dict[int, float]
    per_class: list[ClassMetrics]
    macro_avg: AverageMetrics
    weighted_avg: AverageMetrics
    confusion_matrix: list[list[int]]
    confusion_matrix_normalized: list[list[float]]
    expected_calibration_error: float
    calibration_bins: int
    top_losses: list[TopLoss]
    confidences: np.ndarray = field(repr=False, compare=False)
    correct: np.ndarray = field(repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view (plain floats, ints, strings and lists; no arrays)."""
        return {
            "num_samples": self.num_samples,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "loss": self.loss,
            "accuracy": self.accuracy,
            "top_k": list(self.top_k),
            "top_k_accuracy": {f"top_{k}": v for k, v in self.top_k_accuracy.items()},
            "per_class": [asdict(row) for row in self.per_class],
            "macro_avg": asdict(self.macro_avg),
            "weighted_avg": asdict(self.weighted_avg),
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "confusion_matrix_normalized": [list(row) for row in self.confusion_matrix_normalized],
            "expected_calibration_error": self.expected_calibration_error,
            "calibration_bins": self.calibration_bins,
            "top_losses": [asdict(t) for t in self.top_losses],
        }


def _num(value: Tensor | float) -> float:
    """A float32 result as a float with the 7 significant digits it really has (0.025, not
    0.02500000037252903), so that reports and JSON files read cleanly."""
    return float(f"{float(value):.7g}")


def _check_inputs(logits: Tensor, targets: Tensor, classes: Sequence[str]) -> None:
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if targets.ndim != 1:
        raise ValueError(f"targets must have shape (N,), got {tuple(targets.shape)}")
    n, k = logits.shape
    if targets.shape[0] != n:
        raise ValueError(f"logits has {n} rows but targets has {targets.shape[0]} entries")
    if n == 0:
        raise ValueError("cannot build a classification report from 0 samples: the set is empty")
    if k != len(classes):
        raise ValueError(f"logits has {k} columns but {len(classes)} class names were given")
    if k < 2:
        raise ValueError(f"a classification report needs at least 2 classes, got {k}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    lo, hi = int(targets.min()), int(targets.max())
    if lo < 0 or hi >= k:
        raise ValueError(f"targets must lie in [0, {k - 1}], found values from {lo} to {hi}")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contain NaN or infinite values")


def classification_report(
    logits: Tensor,
    targets: Tensor,
    classes: Sequence[str],
    *,
    top_k: Sequence[int] = (1, 5),
    calibration_bins: int = 15,
    num_top_losses: int = 16,
) -> ClassificationReport:
    """Measure a classifier on a whole evaluation set at once.

    Args:
        logits: ``(N, K)`` raw scores (any float dtype, any device).
        targets: ``(N,)`` integer class indices in ``[0, K)``.
        classes: the ``K`` class names, in index order.
        top_k: the k of the top-k accuracies; values with ``k >= K`` are skipped (always 1.0) and
            the k actually used are recorded in ``report.top_k``.
        calibration_bins: number of equal-width confidence bins of the expected calibration error.
        num_top_losses: how many highest-loss samples to list (fewer if ``N`` is smaller).

    Raises:
        ValueError: on empty input, mismatched shapes, targets out of range or non-finite logits.
    """
    # torchmetrics takes seconds to import (it pulls in torch._dynamo); only pay that when used.
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_calibration_error,
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    _check_inputs(logits, targets, classes)
    if calibration_bins < 1:
        raise ValueError(f"calibration_bins must be >= 1, got {calibration_bins}")
    logits = logits.detach().to(device="cpu", dtype=torch.float32)
    targets = targets.detach().to(device="cpu", dtype=torch.long)
    n, k = logits.shape
    names = [str(c) for c in classes]

    # torchmetrics gets probabilities where scores matter (top-k, calibration; it would only
    # softmax inputs outside [0, 1]) and the predicted labels where only the argmax does.
    probs = logits.softmax(dim=1)
    predicted = probs.argmax(dim=1)  # the same argmax torchmetrics takes
    confidence = probs.gather(1, predicted.unsqueeze(1)).squeeze(1)
    losses = F.cross_entropy(logits, targets, reduction="none")

    # The inputs were checked above; torchmetrics' own checks (torch.unique over the whole set,
    # per call) would be the slowest part of the report.
    tm: dict[str, Any] = {"num_classes": k, "validate_args": False}
    ks = sorted({int(x) for x in top_k if 1 <= int(x) < k})
    accuracy = _num(multiclass_accuracy(predicted, targets, average="micro", **tm))
    top_k_accuracy = {
        kk: accuracy
        if kk == 1
        else _num(multiclass_accuracy(probs, targets, average="micro", top_k=kk, **tm))
        for kk in ks
    }

    def prf(average: Literal["macro", "weighted"] | None) -> tuple[Tensor, Tensor, Tensor]:
        return (
            multiclass_precision(predicted, targets, average=average, zero_division=0, **tm),
            multiclass_recall(predicted, targets, average=average, zero_division=0, **tm),
            multiclass_f1_score(predicted, targets, average=average, zero_division=0, **tm),
        )

    counts = multiclass_confusion_matrix(predicted, targets, **tm)
    support = counts.sum(dim=1)
    normalized = counts.double() / support.clamp(min=1).unsqueeze(1).double()

    p, r, f = prf(None)
    per_class = [
        ClassMetrics(names[i], _num(p[i]), _num(r[i]), _num(f[i]), int(support[i]))
        for i in range(k)
    ]

    def averaged(average: Literal["macro", "weighted"]) -> AverageMetrics:
        ap, ar, af = prf(average)
        return AverageMetrics(_num(ap), _num(ar), _num(af), support=n)

    ece = _num(
        multiclass_calibration_error(probs, targets, n_bins=calibration_bins, norm="l1", **tm)
    )

    # Stable sort so that ties keep dataset order (deterministic output).
    order = torch.sort(losses, descending=True, stable=True).indices[: max(num_top_losses, 0)]
    top_losses = [
        TopLoss(
            index=int(i),
            true_label=int(targets[i]),
            true_class=names[int(targets[i])],
            predicted_label=int(predicted[i]),
            predicted_class=names[int(predicted[i])],
            probability=_num(confidence[i]),
            true_probability=_num(probs[i, targets[i]]),
            loss=_num(losses[i]),
        )
        for i in order.tolist()
    ]

    return ClassificationReport(
        classes=names,
        num_samples=n,
        loss=_num(losses.mean()),
        accuracy=accuracy,
        top_k=ks,
        top_k_accuracy=top_k_accuracy,
        per_class=per_class,
        macro_avg=averaged("macro"),
        weighted_avg=averaged("weighted"),
        confusion_matrix=counts.tolist(),
        confusion_matrix_normalized=normalized.tolist(),
        expected_calibration_error=ece,
        calibration_bins=calibration_bins,
        top_losses=top_losses,
        confidences=confidence.numpy(),
        correct=(predicted == targets).numpy(),
    )
