"""Semantic segmentation metrics from one confusion matrix accumulated over a whole split.

>>> evaluator = SegmentationEvaluator(3, ["background", "cat", "dog"])
>>> for logits, masks in batches:         # (B, K, H, W) logits or (B, H, W) indices; (B, H, W)
...     evaluator.update(logits, masks)
>>> report = evaluator.compute()          # report.miou, report.per_class, report.write(run_dir)

Pixels are counted into a ``(K, K)`` confusion matrix (rows: true class, columns: predicted
class) by ``torchmetrics.functional.classification.multiclass_confusion_matrix`` with
``ignore_index``, one image at a time, and summed over the split; every figure comes from the
split's matrix, never from an average of per-batch values.

Convention (as MMSegmentation): a class absent from both truth and prediction over the whole split
has IoU and Dice undefined (NaN, ``null`` in JSON, "n/a" in tables) and is left out of the means
(nanmean) instead of counting as 0 or 1, or making the mean NaN. A class present in the truth
only, or predicted only, has IoU 0 and counts. Class accuracy is ``tp / true pixels``, undefined
for a class with no true pixel. Pixels labelled ``ignore_index`` count nowhere, whatever was
predicted there. ``per_image_iou`` applies the same rule inside each image.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from imgrec.evaluation.writers import _write_csv, write_json

__all__ = [
    "CONVENTION",
    "SegmentationClassMetrics",
    "SegmentationEvaluator",
    "SegmentationReport",
]

CONVENTION = (
    "confusion matrix accumulated over the whole split; a class absent from both truth and "
    "prediction has IoU/Dice undefined (null) and is left out of the means (nanmean, as "
    "MMSegmentation); a class present in truth only or predicted only has IoU 0; class accuracy "
    "is tp / true pixels (null without true pixels); ignore_index pixels count nowhere; "
    "per_image_iou follows the same rule within each image"
)

_HEADLINE = ("miou", "pixel_accuracy", "mean_dice", "mean_class_accuracy", "fw_iou")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den == 0``."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class SegmentationClassMetrics:
    """One row of the per-class table; NaN where the figure is undefined (see the module)."""

    name: str
    iou: float
    dice: float
    accuracy: float
    pixels_true: int
    pixels_predicted: int


@dataclass(frozen=True)
class SegmentationReport:
    """Everything :class:`SegmentationEvaluator` measured; the figures are in ``[0, 1]`` or NaN."""

    class_names: list[str]
    ignore_index: int | None
    num_images: int
    num_pixels: int  # pixels counted (not ignored)
    num_ignored_pixels: int
    miou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    mean_dice: float
    fw_iou: float  # frequency-weighted IoU: IoU weighted by each class's share of true pixels
    per_class: list[SegmentationClassMetrics]
    per_image_iou: list[float]  # mean IoU of each image, in update order; NaN: nothing counted
    confusion_matrix: np.ndarray = field(repr=False, compare=False)  # (K, K) int64 pixel counts

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def confusion_matrix_normalized(self) -> np.ndarray:
        """Each row divided by its true pixel count; the row of an absent class is all zeros."""
        m = self.confusion_matrix.astype(np.float64)
        return m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)

    def worst_images(self, n: int | None = None) -> list[int]:
        """Indices into ``per_image_iou``, lowest IoU first (ties in update order, NaN last)."""
        iou = np.asarray(self.per_image_iou, dtype=np.float64)
        order = np.argsort(np.where(np.isnan(iou), np.inf, iou), kind="stable").tolist()
        return order if n is None else order[: max(n, 0)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain types, undefined figures as ``None``), keys listed in the module."""
        return {
            "convention": CONVENTION,
            "num_classes": self.num_classes,
            "classes": list(self.class_names),
            "ignore_index": self.ignore_index,
            "num_images": self.num_images,
            "num_pixels": self.num_pixels,
            "num_ignored_pixels": self.num_ignored_pixels,
            **{name: _none(getattr(self, name)) for name in _HEADLINE},
            "per_class": [
                {k: _none(v) if isinstance(v, float) else v for k, v in asdict(row).items()}
                for row in self.per_class
            ],
            "per_image_iou": [_none(v) for v in self.per_image_iou],
            "confusion_matrix": self.confusion_matrix.tolist(),
        }

    def summary(self) -> str:
        """A readable table: the headline figures, then one row per class ("n/a": undefined)."""

        def fmt(v: float) -> str:
            return "   n/a" if math.isnan(v) else f"{v:6.3f}"

        lines = [
            f"{self.num_images} images, {self.num_pixels} pixels counted, "
            f"{self.num_ignored_pixels} ignored",
            *(f"{name:<20}{fmt(getattr(self, name))}" for name in _HEADLINE),
        ]
        width = max([5, *(len(r.name) for r in self.per_class)])
        lines.append(
            f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'acc':>6}  {'true px':>10}  "
            f"{'pred px':>10}"
        )
        lines += [
            f"{r.name:<{width}}  {fmt(r.iou)}  {fmt(r.dice)}  {fmt(r.accuracy)}  "
            f"{r.pixels_true:>10}  {r.pixels_predicted:>10}"
            for r in self.per_class
        ]
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``segmentation_metrics.json`` and ``per_class_iou.csv`` (undefined: empty cell;
        a last ``mean`` row holds the means) into ``out_dir``; the paths keyed by file name."""
        out = Path(out_dir)

        def cell(v: float) -> float | str:
            return "" if math.isnan(v) else v

        rows: list[list[Any]] = [
            [r.name, cell(r.iou), cell(r.dice), cell(r.accuracy), r.pixels_true, r.pixels_predicted]
            for r in self.per_class
        ]
        means = [cell(self.miou), cell(self.mean_dice), cell(self.mean_class_accuracy)]
        rows.append(["mean", *means, self.num_pixels, self.num_pixels])
        header = ["class", "iou", "dice", "accuracy", "pixels_true", "pixels_predicted"]
        return {
            "segmentation_metrics.json": write_json(
                out / "segmentation_metrics.json", self.to_dict()
            ),
            "per_class_iou.csv": _write_csv(out / "per_class_iou.csv", header, rows),
        }


@contextlib.contextmanager
def _plain_bincount() -> Iterator[None]:
    """Lift ``torch.use_deterministic_algorithms`` (``Trainer(deterministic=True)`` leaves it on)
    while counting: under it torchmetrics trades ``torch.bincount`` (deterministic without
    weights, on every device) for an ``(N pixels, K * K)`` comparison, gigabytes per image."""
    on = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if on:
        torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        if on:
            torch.use_deterministic_algorithms(True, warn_only=warn_only)


def _int_mask(t: Tensor, what: str) -> None:
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{what} must be an integer tensor of class indices, got dtype {t.dtype}")


def _labels(pred: Tensor, target: Tensor, k: int, ignore: int | None) -> tuple[Tensor, Tensor]:
    """Checked ``(B, H, W)`` int64 predicted and true labels, on the device of ``pred``."""
    if target.ndim != 3:
        raise ValueError(f"target must have shape (B, H, W), got {tuple(target.shape)}")
    _int_mask(target, "target")
    if pred.ndim == 4 and pred.dtype.is_floating_point:
        if pred.shape[1] != k:
            raise ValueError(f"logits have {pred.shape[1]} channels for {k} classes")
        pred = pred.detach().argmax(dim=1)
    elif pred.ndim == 4:
        raise ValueError(f"(B, K, H, W) predictions must be float logits, got {pred.dtype}")
    else:
        _int_mask(pred, "pred")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must match: "
            "(B, H, W) both, or (B, K, H, W) logits for (B, H, W) targets"
        )
    pred, target = pred.detach().long(), target.detach().to(pred.device).long()
    counted = target if ignore is None else target[target != ignore]
    for t, what, extra in ((pred, "pred", ""), (counted, "target", f" or {ignore} (ignored)")):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
            raise ValueError(
                f"{what} must lie in [0, {k - 1}]{extra}, found {int(t.min())} to {int(t.max())}"
            )
    return pred, target


def _confusion_per_image(pred: Tensor, target: Tensor, k: int, ignore: int | None) -> Tensor:
    """``(B, K, K)`` int64 counts of ``(B, H, W)`` checked predictions against targets."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    if len(pred) == 0:
        return torch.zeros(0, k, k, dtype=torch.long, device=pred.device)
    with _plain_bincount():
        return torch.stack(
            [
                multiclass_confusion_matrix(p, t, k, ignore_index=ignore, validate_args=False)
                for p, t in zip(pred, target, strict=True)
            ]
        )


class SegmentationEvaluator:
    """Accumulates a split's confusion matrix batch by batch; :meth:`compute` gives the report.

    Args:
        num_classes: ``K``, the number of classes (background included, if it is a class).
        class_names: the ``K`` class names, in index order.
        ignore_index: the target value of pixels to leave out (``None``: none); it must not be
            a class index.
    """

    def __init__(
        self, num_classes: int, class_names: Sequence[str], ignore_index: int | None = 255
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if len(class_names) != num_classes:
            raise ValueError(f"got {len(class_names)} class names for {num_classes} classes")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is a class index (0..{num_classes - 1}); use a value "
                "outside the classes, e.g. 255, or remap that class to it"
            )
        self.num_classes = num_classes
        self.class_names = [str(c) for c in class_names]
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        self._confmat: Tensor | None = None  # (K, K) int64, on the device of the inputs
        self._per_image: list[float] = []
        self._num_ignored = 0

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Count one batch.

        Args:
            pred: ``(B, H, W)`` integer class indices, or ``(B, K, H, W)`` float logits (or
                probabilities); the argmax over ``K`` is the prediction.
            target: ``(B, H, W)`` integer class indices in ``[0, K)`` or ``ignore_index``.

        Raises:
            ValueError: on a shape, dtype or value that does not fit, saying which.
        """
        k = self.num_classes
        pred, target = _labels(pred, target, k, self.ignore_index)
        ignored = 0 if self.ignore_index is None else int((target == self.ignore_index).sum())
        per_image = _confusion_per_image(pred, target, k, self.ignore_index)
        batch = per_image.sum(dim=0)
        self._confmat = batch if self._confmat is None else self._confmat + batch.to(self._confmat)
        tp = per_image.diagonal(dim1=1, dim2=2).double()
        union = per_image.sum(dim=1) + per_image.sum(dim=2) - tp
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.nan).nanmean(dim=1)
        self._per_image.extend(iou.cpu().tolist())
        self._num_ignored += ignored

    def compute(self) -> SegmentationReport:
        """The report of everything counted since construction or :meth:`reset`.

        Raises:
            ValueError: if :meth:`update` was never called.
        """
        if self._confmat is None:
            raise ValueError("no images were counted: call update() before compute()")
        m = self._confmat.cpu().numpy().astype(np.int64)
        tp = np.diag(m).astype(np.float64)
        true, predicted = m.sum(axis=1), m.sum(axis=0)
        total = int(m.sum())
        iou = _ratio(tp, true + predicted - tp)
        dice = _ratio(2 * tp, true + predicted)
        accuracy = _ratio(tp, true)
        share = true / total if total else np.zeros_like(tp)
        columns = zip(self.class_names, iou, dice, accuracy, true, predicted, strict=True)
        rows = [
            SegmentationClassMetrics(name, float(i), float(d), float(a), int(t), int(p))
            for name, i, d, a, t, p in columns
        ]
        return SegmentationReport(
            class_names=list(self.class_names),
            ignore_index=self.ignore_index,
            num_images=len(self._per_image),
            num_pixels=total,
            num_ignored_pixels=self._num_ignored,
            miou=_nanmean(iou),
            pixel_accuracy=float(tp.sum() / total) if total else math.nan,
            mean_class_accuracy=_nanmean(accuracy),
            mean_dice=_nanmean(dice),
            fw_iou=float(np.nansum(share * iou)) if total else math.nan,
            per_class=rows,
            per_image_iou=list(self._per_image),
            confusion_matrix=m,
        )
