"""PNG plots of a detection evaluation: PR curves, the confusion matrix with background, a grid.

Drawn like :mod:`imgrec.evaluation.plots`: on matplotlib's Agg canvas, never through ``pyplot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from imgrec.evaluation.detection import PrecisionRecallCurve
from imgrec.evaluation.plots import (
    _new_figure,
    _save,
    _shorten,
    image_grid,
    plot_confusion_matrix,
)

__all__ = ["DetectionSample", "plot_detection_confusion", "plot_detection_grid", "plot_pr_curves"]

# (image uint8 (H, W, 3), gt boxes (N, 4), gt labels (N,), pred boxes (M, 4), pred scores (M,),
#  pred labels (M,), title)
DetectionSample = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]

_MAX_LEGEND_CLASSES = 20


def plot_pr_curves(
    curves: Sequence[PrecisionRecallCurve], classes: Sequence[str], path: str | Path
) -> Path:
    """Precision against recall at IoU 0.5, one line per class with ground truth."""
    if len(curves) != len(classes):
        raise ValueError(f"got {len(curves)} curves for {len(classes)} classes")
    fig = _new_figure(7.0, 5.5)
    ax = fig.add_subplot()
    drawn = 0
    for curve, name in zip(curves, classes, strict=True):
        if curve.precision is None:
            continue
        ap = "-" if curve.ap50 is None else f"{curve.ap50:.3f}"
        ax.plot(curve.recall, curve.precision, linewidth=1.2, label=f"{_shorten(name, 24)} {ap}")
        drawn += 1
    if drawn == 0:
        ax.text(0.5, 0.5, "no class has ground truth", ha="center", va="center")
    elif drawn <= _MAX_LEGEND_CLASSES:
        ax.legend(fontsize=7, loc="lower left", title="class  AP50")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall at IoU 0.5")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_detection_confusion(matrix: np.ndarray, classes: Sequence[str], path: str | Path) -> Path:
    """The ``(K + 1, K + 1)`` count matrix of ``detection_confusion_matrix``; last is background."""
    m = np.asarray(matrix)
    if m.shape != (len(classes) + 1, len(classes) + 1):
        raise ValueError(
            f"matrix must be ({len(classes) + 1}, {len(classes) + 1}) for {len(classes)} classes "
            f"plus background, got {m.shape}"
        )
    return plot_confusion_matrix(m, [*classes, "background"], path, normalized=False)


def _draw_boxes(
    ax: Axes, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray | None, *,
    classes: Sequence[str], color: str,
) -> None:  # fmt: skip
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        rect = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.2)
        ax.add_patch(rect)
        label = int(labels[i])
        text = _shorten(str(classes[label]) if 0 <= label < len(classes) else str(label), 16)
        if scores is not None:
            text += f" {float(scores[i]):.2f}"
        # predictions are labelled above the box, true boxes below it, so the two do not overlap
        ax.text(
            x1, y1 if scores is not None else y2, text, color="white", fontsize=6,
            va="bottom" if scores is not None else "top",
            bbox={"facecolor": color, "alpha": 0.7, "pad": 1, "linewidth": 0},
        )  # fmt: skip


def plot_detection_grid(
    samples: Sequence[DetectionSample],
    classes: Sequence[str],
    path: str | Path,
    *,
    max_images: int = 16,
    min_score: float = 0.25,
    max_boxes: int = 10,
) -> Path:
    """A grid of images, true boxes in green and predictions in red with ``label score``.

    Samples are drawn in the order given (the caller sorts them, e.g. worst first). Only
    predictions scoring ``min_score`` or more are drawn (evaluation keeps boxes down to 0.05:
    drawn, their labels would hide the confident ones), at most ``max_boxes`` per image (a weak
    model's many near-threshold boxes would cover the image), the most confident last, on top.
    """
    n = min(len(samples), max(max_images, 0))
    grid = image_grid(n, path, cell=(3.2, 3.4), empty="no images to show")
    if isinstance(grid, Path):
        return grid
    fig, rows, cols = grid
    for i, (image, gt_boxes, gt_labels, boxes, scores, labels, title) in enumerate(samples[:n]):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"sample {i}: image must be uint8 (H, W, 3), got {image.dtype} "
                             f"{image.shape}")  # fmt: skip
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(image)
        _draw_boxes(ax, gt_boxes, gt_labels, None, classes=classes, color="tab:green")
        shown = np.asarray(scores, dtype=float).reshape(-1)
        best = [j for j in np.argsort(-shown, kind="stable") if shown[j] >= min_score]
        order = best[:max_boxes][::-1]
        _draw_boxes(
            ax,
            np.asarray(boxes, dtype=float).reshape(-1, 4)[order],
            np.asarray(labels).reshape(-1)[order],
            shown[order],
            classes=classes,
            color="tab:red",
        )
        ax.set_xlim(0, image.shape[1])
        ax.set_ylim(image.shape[0], 0)
        ax.set_title(_shorten(str(title), 40), fontsize=8)
        ax.set_axis_off()
    fig.suptitle(
        f"true boxes green, predictions red (score >= {min_score:g}, top {max_boxes} per image)",
        fontsize=9,
    )
    return _save(fig, path)
