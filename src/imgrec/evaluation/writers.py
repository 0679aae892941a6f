"""Files of a run directory: JSON, per-class / confusion / history CSVs, and the plot set.

``metrics.json`` itself is assembled by the caller (it merges the report with timings); this
module supplies :func:`write_json` for it and :func:`write_classification_artifacts` for the rest.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imgrec._files import atomic_write_text
from imgrec.evaluation.plots import (
    Monitor,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_reliability_diagram,
    plot_worst_mistakes,
)

if TYPE_CHECKING:
    from imgrec.evaluation.classification import ClassificationReport

__all__ = [
    "write_classification_artifacts",
    "write_confusion_csv",
    "write_history_csv",
    "write_json",
    "write_per_class_csv",
]


def _jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become None (JSON has no spelling for them)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (temporary file, then rename).

    NaN and ±inf are written as ``null``; numpy scalars/arrays and paths are converted.
    """
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def _write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_per_class_csv(report: ClassificationReport, path: str | Path) -> Path:
    """Columns ``class,precision,recall,f1,support``; then ``macro avg`` and ``weighted avg``."""
    rows: list[list[Any]] = [
        [r.name, r.precision, r.recall, r.f1, r.support] for r in report.per_class
    ]
    for name, avg in (("macro avg", report.macro_avg), ("weighted avg", report.weighted_avg)):
        rows.append([name, avg.precision, avg.recall, avg.f1, avg.support])
    return _write_csv(path, ["class", "precision", "recall", "f1", "support"], rows)


def write_history_csv(history: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """One row per epoch; columns are the union of keys (``epoch`` first, then first-seen order).

    A key missing from a row, or ``None``, leaves the cell empty.
    """
    columns: list[str] = []
    for row in history:
        columns.extend(key for key in row if key not in columns)
    if "epoch" in columns:
        columns.remove("epoch")
        columns.insert(0, "epoch")
    rows = [["" if row.get(c) is None else row[c] for c in columns] for row in history]
    return _write_csv(path, columns, rows)


def write_confusion_csv(
    matrix: np.ndarray | Sequence[Sequence[float]], classes: Sequence[str], path: str | Path
) -> Path:
    """Rows are true classes, columns predicted classes; the corner cell is ``true\\pred``."""
    m = np.asarray(matrix)
    if m.shape != (len(classes), len(classes)):
        raise ValueError(f"matrix must be ({len(classes)}, {len(classes)}), got {m.shape}")
    rows = [[name, *m[i].tolist()] for i, name in enumerate(classes)]
    return _write_csv(path, ["true\\pred", *classes], rows)


def write_classification_artifacts(
    report: ClassificationReport,
    out_dir: str | Path,
    *,
    history: Sequence[Mapping[str, Any]] | None = None,
    monitor: Monitor | None = None,
    mistake_images: np.ndarray | None = None,
    mistake_sources: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write the per-class and confusion CSVs and the PNG plots of ``report`` into ``out_dir``.

    Args:
        report: the classification report.
        out_dir: the run directory (created if needed).
        history: per-epoch metric rows; adds ``learning_curves.png``.
        monitor: the metric the run monitored and its direction, to mark the best epoch on the
            learning curves (default: ``val_accuracy`` when recorded).
        mistake_images: ``(M, H, W, 3)`` uint8 images of ``report.top_losses``, in that order;
            adds ``worst_mistakes.png``.
        mistake_sources: the ``M`` file paths of those images, shown on their tiles.

    Returns:
        The written paths keyed by file name (``"per_class.csv"``, ``"confusion_matrix.png"``...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    classes = report.classes
    paths = {
        "per_class.csv": write_per_class_csv(report, out / "per_class.csv"),
        "confusion_matrix.csv": write_confusion_csv(
            report.confusion_matrix, classes, out / "confusion_matrix.csv"
        ),
        "confusion_matrix.png": plot_confusion_matrix(
            report.confusion_matrix, classes, out / "confusion_matrix.png", normalized=False
        ),
        "confusion_matrix_normalized.png": plot_confusion_matrix(
            report.confusion_matrix_normalized,
            classes,
            out / "confusion_matrix_normalized.png",
            normalized=True,
        ),
        "reliability.png": plot_reliability_diagram(
            report.confidences,
            report.correct,
            out / "reliability.png",
            bins=report.calibration_bins,
        ),
    }
    if history:
        paths["learning_curves.png"] = plot_learning_curves(
            history, out / "learning_curves.png", monitor=monitor
        )
    if mistake_images is not None:
        losses = report.top_losses
        if len(mistake_images) != len(losses):
            raise ValueError(
                f"got {len(mistake_images)} mistake images for {len(losses)} top-loss samples; "
                "pass the images of report.top_losses, in the same order"
            )
        paths["worst_mistakes.png"] = plot_worst_mistakes(
            mistake_images,
            [t.true_label for t in losses],
            [t.predicted_label for t in losses],
            [t.probability for t in losses],
            classes,
            out / "worst_mistakes.png",
            names=mistake_sources,
            max_images=len(losses),
        )
    return paths
