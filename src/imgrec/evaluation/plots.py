"""PNG plots of an evaluation: confusion matrix, learning curves, worst mistakes, reliability.

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), never
through ``pyplot``: nothing is shown, no global backend is switched under a caller's notebook, and
no figure lingers in pyplot's registry, so there is nothing to close. Text uses matplotlib's
bundled DejaVu fonts; nothing is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "BestEpoch",
    "Monitor",
    "best_epoch",
    "file_label",
    "image_grid",
    "learning_curves_figure",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_reliability_diagram",
    "plot_worst_mistakes",
    "worst_mistakes_figure",
]

Monitor = tuple[str, Literal["max", "min"]]
"""A monitored metric: its history column and which way is better (``("val_loss", "min")``)."""

# The tasks' default monitors, most specific first (an instance run logs val_map too, but
# monitors val_mask_map); used when the caller does not say what the run monitored.
_DEFAULT_MONITORS: tuple[Monitor, ...] = (
    ("val_mask_map", "max"),
    ("val_map", "max"),
    ("val_miou", "max"),
    ("val_accuracy", "max"),
)

_DPI = 100
_MAX_ANNOTATED_CLASSES = 20  # write the value in each cell up to this many classes
_MAX_LABELLED_CLASSES = 60  # beyond this, tick labels would overlap at any legible size


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def image_grid(
    n: int, path: str | Path, *, cell: tuple[float, float], empty: str
) -> tuple[Figure, int, int] | Path:
    """A near-square figure for ``n`` image panels of ``cell`` inches: ``(figure, rows, cols)``.

    With nothing to show, a small figure saying ``empty`` is saved to ``path`` and its path
    returned instead, so a run directory never misses a plot it promises.
    """
    if n <= 0:
        return _save(_empty_figure(empty), path)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return _new_figure(cell[0] * cols, cell[1] * rows), rows, cols


def _empty_figure(text: str) -> Figure:
    fig = _new_figure(4.0, 2.0)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def _shorten(text: str, limit: int) -> str:
    """Elide the middle of a long name: class names often differ only at the end."""
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 2
    return text[: limit - 1 - tail] + "…" + text[len(text) - tail :]


def file_label(source: str | Path, *, limit: int = 24) -> str:
    """How a plot names an image: the file name without its folders, middle-elided past
    ``limit`` characters so the extension and numbering at the end stay readable.

    In-memory inputs (``"<ndarray>"``, ``"<Image>"``) are kept as they are.
    """
    text = str(source)
    name = text if text.startswith("<") else Path(text.replace("\\", "/")).name or text
    return _shorten(name, limit)


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[float]],
    classes: Sequence[str],
    path: str | Path,
    *,
    normalized: bool,
) -> Path:
    """Draw a ``(K, K)`` confusion matrix (rows: true class, columns: predicted class).

    Cells carry their value when ``K <= 20``; tick labels shrink and rotate as ``K`` grows, long
    names are shortened, and past 60 classes only class indices are shown.
    """
    m = np.asarray(matrix, dtype=float)
    k = len(classes)
    if m.shape != (k, k):
        raise ValueError(f"matrix must have shape ({k}, {k}) for {k} classes, got {m.shape}")
    side = min(max(5.0, 0.35 * k + 3.0), 30.0)
    fig = _new_figure(side + 1.5, side)
    ax = fig.add_subplot()
    vmax = 1.0 if normalized else max(float(m.max(initial=0.0)), 1.0)
    image = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)

    fontsize = max(5.0, min(10.0, 220.0 / max(k, 1)))
    if k <= _MAX_LABELLED_CLASSES:
        labels = [_shorten(str(c), 24) for c in classes]
        ax.set_xticks(
            range(k), labels, rotation=45 if k <= 10 else 90, ha="right", fontsize=fontsize
        )
        ax.set_yticks(range(k), labels, fontsize=fontsize)
        if k <= 10:
            for label in ax.get_xticklabels():
                label.set_rotation_mode("anchor")
    if k <= _MAX_ANNOTATED_CLASSES:
        for i in range(k):
            for j in range(k):
                value = m[i, j]
                text = f"{value:.2f}" if normalized else f"{value:.0f}"
                colour = "white" if value > 0.5 * vmax else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=fontsize)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title("Confusion matrix (row-normalised)" if normalized else "Confusion matrix (counts)")
    return _save(fig, path)


def _series(history: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(history):
        value = row.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        epoch = row.get("epoch")
        xs.append(float(epoch) if epoch is not None else float(i))
        ys.append(float(value))
    return xs, ys


class BestEpoch(NamedTuple):
    """The epoch where the monitored metric was best."""

    metric: str
    epoch: float
    value: float


def best_epoch(
    history: Sequence[Mapping[str, float]], *, monitor: Monitor | None = None
) -> BestEpoch | None:
    """The best epoch of ``history`` by ``monitor``; the first on ties, as the run kept it.

    Without ``monitor``, the first of the tasks' default monitors (``val_mask_map``,
    ``val_map``, ``val_miou``, ``val_accuracy``, all larger-is-better) that the history
    records is used. ``None`` when the metric has no finite value in any row.
    """
    candidates = (monitor,) if monitor is not None else _DEFAULT_MONITORS
    for key, direction in candidates:
        xs, ys = _series(history, key)
        if not ys:
            continue
        pick = max if direction == "max" else min
        i = ys.index(pick(ys))
        return BestEpoch(key, xs[i], ys[i])
    return None


def _epoch_text(epoch: float) -> str:
    return str(int(epoch)) if float(epoch).is_integer() else f"{epoch:g}"


def learning_curves_figure(
    history: Sequence[Mapping[str, float]], *, monitor: Monitor | None = None
) -> Figure:
    """The figure :func:`plot_learning_curves` saves (its arguments are the same)."""
    keys: list[str] = []
    for row in history:
        keys.extend(key for key in row if key not in keys and key != "epoch")
    panels = {
        "Loss": [key for key in keys if "loss" in key],
        "Accuracy": [key for key in keys if "acc" in key],
        "mAP / IoU": [key for key in keys if key.endswith(("map", "map50", "miou", "dice"))],
        "Learning rate": [key for key in keys if key == "lr" or key.startswith("lr")],
    }
    panels = {title: ks for title, ks in panels.items() if ks}
    best = best_epoch(history, monitor=monitor)
    if best is not None and not any(best.metric in ks for ks in panels.values()):
        panels[best.metric] = [best.metric]
    if not panels:
        return _empty_figure("no metrics recorded")

    fig = _new_figure(5.0 * len(panels), 4.0)
    for n, (title, panel_keys) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(1, len(panels), n)
        positive = True
        for key in panel_keys:
            xs, ys = _series(history, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
            positive = positive and all(y > 0 for y in ys)
        if title == "Learning rate" and positive:
            ax.set_yscale("log")
        if best is not None:
            _mark_best(ax, best, labelled=best.metric in panel_keys)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _mark_best(ax: Axes, best: BestEpoch, *, labelled: bool) -> None:
    """A dashed vertical line at the best epoch on every panel; on the monitored metric's
    panel also a point and ``"best epoch N: value"``."""
    ax.axvline(best.epoch, color="tab:gray", linestyle="--", linewidth=1.0)
    if not labelled:
        return
    ax.plot([best.epoch], [best.value], marker="*", markersize=11, color="tab:red", zorder=5)
    ax.annotate(
        f"best epoch {_epoch_text(best.epoch)}: {best.value:.4g}",
        xy=(best.epoch, best.value),
        xytext=(6, -14),
        textcoords="offset points",
        fontsize=8,
        color="tab:red",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )


def plot_learning_curves(
    history: Sequence[Mapping[str, float]], path: str | Path, *, monitor: Monitor | None = None
) -> Path:
    """Plot loss, accuracy, mAP/IoU and (if recorded) learning-rate panels from per-epoch rows.

    Rows look like ``{"epoch": 1, "train_loss": ..., "val_loss": ..., "train_accuracy": ...,
    "val_accuracy": ..., "lr": ...}``; a panel is drawn only for the kinds of key present, a
    missing or NaN value is skipped, and without ``epoch`` the row number is the x axis.

    The best epoch by ``monitor`` (see :func:`best_epoch`; by default the task's usual monitor
    found in the rows) gets a dashed vertical line on every panel and, on its metric's panel, a
    point labelled ``"best epoch N: value"``; a history without that metric gets no marker.
    """
    return _save(learning_curves_figure(history, monitor=monitor), path)


def worst_mistakes_figure(
    images: np.ndarray,
    true_labels: Sequence[int],
    pred_labels: Sequence[int],
    probs: Sequence[float],
    classes: Sequence[str],
    *,
    names: Sequence[str | Path] | None = None,
    max_images: int = 16,
) -> Figure:
    """The figure :func:`plot_worst_mistakes` saves (its arguments are the same)."""
    images = np.asarray(images)
    n = len(images)
    if not (len(true_labels) == len(pred_labels) == len(probs) == n):
        raise ValueError(
            f"got {n} images but {len(true_labels)} true labels, {len(pred_labels)} predicted "
            f"labels and {len(probs)} probabilities; they must match one to one"
        )
    if names is not None and len(names) != n:
        raise ValueError(f"got {n} images but {len(names)} file names; they must match one to one")
    if n and (images.dtype != np.uint8 or images.ndim not in (3, 4)):
        raise ValueError(
            f"images must be uint8 of shape (N, H, W, 3) or (N, H, W), got {images.dtype} "
            f"{images.shape}"
        )
    n = min(n, max(max_images, 0))
    if n == 0:
        return _empty_figure("no mistakes to show")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = _new_figure(2.4 * cols, (2.6 if names is None else 3.0) * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = images[i]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        true, pred = int(true_labels[i]), int(pred_labels[i])
        title = (
            f"{_shorten(str(classes[true]), 14)} / {_shorten(str(classes[pred]), 14)}"
            f" ({float(probs[i]):.2f})"
        )
        if names is not None:
            title = f"{file_label(names[i])}\n{title}"
        ax.set_title(title, fontsize=8, color="tab:red" if true != pred else "black")
        ax.set_axis_off()
    labels = "true / predicted (probability)"
    fig.suptitle(
        f"Highest-loss samples: {labels if names is None else 'file, ' + labels}", fontsize=10
    )
    fig.tight_layout()
    return fig


def plot_worst_mistakes(
    images: np.ndarray,
    true_labels: Sequence[int],
    pred_labels: Sequence[int],
    probs: Sequence[float],
    classes: Sequence[str],
    path: str | Path,
    *,
    names: Sequence[str | Path] | None = None,
    max_images: int = 16,
) -> Path:
    """A grid of images titled ``"true / pred (p)"``; red titles mark wrong predictions.

    Args:
        images: ``(N, H, W, 3)`` (or ``(N, H, W)`` grey) uint8 images, worst first.
        true_labels, pred_labels: ``N`` class indices each.
        probs: ``N`` probabilities of the predicted class.
        classes: class names, indexed by the labels.
        path: where to write the PNG.
        names: ``N`` file paths (or ``"<ndarray>"``-style names); each tile then shows its file
            name (no folders, middle-elided when long, see :func:`file_label`) above the labels.
        max_images: draw at most this many (the first ones).
    """
    figure = worst_mistakes_figure(
        images, true_labels, pred_labels, probs, classes, names=names, max_images=max_images
    )
    return _save(figure, path)


def plot_reliability_diagram(
    confidences: np.ndarray | Sequence[float],
    correct: np.ndarray | Sequence[bool],
    path: str | Path,
    *,
    bins: int = 15,
) -> Path:
    """Accuracy against confidence in ``bins`` equal-width bins, with the sample count per bin.

    A perfectly calibrated model lies on the diagonal; bars below it are over-confident.
    """
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    hit = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.shape != hit.shape:
        raise ValueError(f"got {conf.size} confidences but {hit.size} correctness flags")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    index = np.clip((conf * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    accuracy = np.bincount(index, weights=hit.astype(float), minlength=bins) / np.maximum(count, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, 1.0 / bins

    fig = _new_figure(5.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    filled = count > 0
    top.bar(centres[filled], accuracy[filled], width=width, edgecolor="black", label="accuracy")
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title("Reliability diagram")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, count, width=width, color="tab:gray", edgecolor="black")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("samples")
    fig.tight_layout()
    return _save(fig, path)
